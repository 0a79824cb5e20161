/** JSON that the CLI reads: a --data object, or events from a file or stdin. */
import fs from 'node:fs/promises';
import { UsageError } from './args';
import { findJsonHazard, pathText, type JsonPath } from './json-hazards';

export function parseJsonObject(raw: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new UsageError(`${what}: not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${what}: must be a JSON object`);
  refuseHazards(raw, (path) => at(what, path));
  return value as Record<string, unknown>;
}

/**
 * Refuses JSON that JSON.parse accepted but would change without a word (json-hazards.ts): an
 * integer beyond 2^53 or a "__proto__" key. `where` names the place, e.g. "-: event 2: data.id".
 */
export function refuseHazards(raw: string, where: (path: JsonPath) => string): void {
  const hazard = findJsonHazard(raw);
  if (hazard) throw new UsageError(`${where(hazard.path)}: ${hazard.message}`);
}

/** `prefix: data.id`, or just `prefix` for the top of the document. */
export function at(prefix: string, path: JsonPath): string {
  const text = pathText(path);
  return text === '' ? prefix : `${prefix}: ${text}`;
}

/** The whole of a file, or of stdin for "-". */
export async function readSource(source: string, stdin: NodeJS.ReadableStream): Promise<string> {
  if (source !== '-') {
    try {
      return await fs.readFile(source, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${source}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
