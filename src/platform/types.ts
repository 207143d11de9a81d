/** The platform as the rest of the library sees it: services with absolute paths, hooks and backup defaults. */

export type Part = 'config' | 'volumes' | 'logs';
export const PARTS: readonly Part[] = ['config', 'volumes', 'logs'];

export type HookName = 'pre_backup' | 'post_backup' | 'pre_restore' | 'post_restore';

/** One configured path of a service, and where it lives inside an archive. */
export interface SourcePath {
  part: Part;
  /** As written in platform.yaml (or found by convention), for messages. */
  declared: string;
  /** Absolute, normalised. */
  absolute: string;
  /** Root of this path inside the archive: `<service>/<part>/<basename>`, unique within the backup. */
  archiveRoot: string;
}

export interface Service {
  name: string;
  paths: SourcePath[];
  /** gitignore-style patterns, relative to each path. */
  exclude: string[];
  hooks: Partial<Record<HookName, string>>;
}

export interface EncryptionDefaults {
  recipients: string[];
  recipientsFile?: string;
}

export interface Platform {
  /** Absolute platform root. */
  root: string;
  name: string;
  /** Absolute path of platform.yaml, or undefined when services were discovered by convention. */
  configFile?: string;
  services: Service[];
  /** Absolute path of the backup directory. */
  backupDir: string;
  defaults: {
    retention?: { keep?: number; days?: number };
    compressionLevel?: number;
    encryption?: EncryptionDefaults;
  };
}

/** Where platform.yaml goes inside an archive. */
export const PLATFORM_CONFIG_ARCHIVE_PATH = '_platform/platform.yaml';
