/**
 * What a backup takes: which services, which of their parts, and whether platform.yaml comes along. A full backup
 * takes every service; a service backup the named ones; an incremental continues the scope of the chain it extends.
 */
import { BackupError } from '../errors.js';
import type { BackupParts, BackupType } from '../metadata/record.js';
import type { Part, Platform, Service } from '../platform/types.js';

export interface ScopeRequest {
  type: BackupType;
  services?: readonly string[];
  includeLogs?: boolean;
  /** False to leave volumes out (service backups). */
  volumes?: boolean;
}

export interface BackupScope {
  services: Service[];
  parts: BackupParts;
}

export function findServices(platform: Platform, names: readonly string[]): Service[] {
  const wanted = [...new Set(names.map((n) => n.trim()).filter((n) => n !== ''))];
  const unknown = wanted.filter((name) => !platform.services.some((s) => s.name === name));
  if (unknown.length > 0) {
    const known = platform.services.map((s) => s.name).join(', ');
    throw new BackupError(
      'SERVICE_UNKNOWN',
      `unknown service${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: this platform has ${known}`,
      { unknown, known: platform.services.map((s) => s.name) },
    );
  }
  return platform.services.filter((s) => wanted.includes(s.name));
}

export function resolveScope(platform: Platform, request: ScopeRequest): BackupScope {
  const includeLogs = request.includeLogs ?? false;
  const volumes = request.volumes ?? true;
  if (request.type === 'full') {
    if (request.services && request.services.length > 0) {
      throw new BackupError('USAGE', 'a full backup takes every service: use --type service --services a,b to choose some');
    }
    if (!volumes) throw new BackupError('USAGE', '--no-volumes applies to service backups: use --type service --services a,b --no-volumes');
    return {
      services: platform.services,
      parts: { config: true, volumes: true, logs: includeLogs, platformConfig: platform.configFile !== undefined },
    };
  }
  if (!request.services || request.services.length === 0) {
    if (request.type === 'service') {
      throw new BackupError('USAGE', `--type service needs --services a,b (this platform has ${platform.services.map((s) => s.name).join(', ')})`);
    }
    return {
      services: platform.services,
      parts: { config: true, volumes, logs: includeLogs, platformConfig: platform.configFile !== undefined },
    };
  }
  const services = findServices(platform, request.services);
  if (services.length === 0) throw new BackupError('USAGE', '--services is empty: name at least one service');
  return { services, parts: { config: true, volumes, logs: includeLogs, platformConfig: false } };
}

export function partIncluded(parts: BackupParts, part: Part): boolean {
  return parts[part];
}

/** Two scopes are the same when they take the same services and parts; incrementals chain only within one. */
export function sameScope(a: { services: readonly string[]; parts: BackupParts }, b: { services: readonly string[]; parts: BackupParts }): boolean {
  return (
    a.services.length === b.services.length &&
    [...a.services].sort().every((s, i) => s === [...b.services].sort()[i]) &&
    a.parts.config === b.parts.config &&
    a.parts.volumes === b.parts.volumes &&
    a.parts.logs === b.parts.logs &&
    a.parts.platformConfig === b.parts.platformConfig
  );
}
