/** The tool's version, recorded in every backup and index record. Kept in step with package.json by a test. */
export const TOOL_VERSION = '0.1.0';
