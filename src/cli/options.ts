/** Parsers for option values: each refuses a bad value with a one-line message that names the option. */
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { BackupError } from '../errors.js';

export function integerIn(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

export function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function oneOf<T extends string>(name: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}`);
    }
    return value as T;
  };
}

/** Longest --description kept: a note, not a document (every `list` reads every record's). */
export const MAX_DESCRIPTION_CHARS = 4096;

export function descriptionText(value: string): string {
  if (value.length > MAX_DESCRIPTION_CHARS) {
    // Not InvalidArgumentError: commander would echo the whole value back.
    throw new BackupError('USAGE', `--description is ${value.length} characters long: at most ${MAX_DESCRIPTION_CHARS}`);
  }
  return value;
}
