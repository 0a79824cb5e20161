import Ajv, { type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { EVENT_TYPES, type EventTypeDefinition } from './types';

/** Why an event's data was refused: the path of the offending field and the rule it broke. */
export interface ValidationFailure {
  /** A dotted path from the data, e.g. "data.user_id" or "data.changed_fields[0]". */
  readonly field: string;
  /** The rule, never the value: payloads hold personal data and messages end up in logs. */
  readonly message: string;
}

interface Entry {
  readonly definition: EventTypeDefinition;
  readonly validate: ValidateFunction;
}

/** Longest type name echoed back in an error, so a huge bogus type cannot bloat the answer. */
const MAX_ECHOED_TYPE = 128;

/**
 * The known event types and their compiled schemas. Schemas are compiled once, at construction,
 * so a broken schema fails at startup and validating an event is a call to generated code.
 */
export class EventCatalog {
  private readonly entries = new Map<string, Entry>();
  private readonly ordered: readonly EventTypeDefinition[];
  private readonly publicCategories: ReadonlySet<string>;

  constructor(types: readonly EventTypeDefinition[] = EVENT_TYPES) {
    const ajv = createAjv();
    for (const definition of types) {
      if (this.entries.has(definition.name)) {
        throw new Error(`duplicate event type "${definition.name}" in the catalog`);
      }
      const validate = ajv.compile(definition.schema as SchemaObject);
      this.entries.set(definition.name, { definition, validate });
    }
    this.ordered = Object.freeze([...types]);
    this.publicCategories = new Set(types.filter((t) => !t.internal).map((t) => t.category));
  }

  /** Whether events of this type may be published (known and not internal). */
  has(type: string): boolean {
    const entry = this.entries.get(type);
    return entry !== undefined && !entry.definition.internal;
  }

  /** The definition of a type, internal ones included. */
  get(type: string): EventTypeDefinition | undefined {
    return this.entries.get(type)?.definition;
  }

  /** Every type, internal ones included, in catalog order. */
  list(): readonly EventTypeDefinition[] {
    return this.ordered;
  }

  /** Whether some publishable type has this category, i.e. whether `category.*` means anything. */
  hasCategory(category: string): boolean {
    return this.publicCategories.has(category);
  }

  /**
   * Checks an event's data against its type's schema; undefined when it is valid. Internal types
   * are refused like unknown ones: they are never published, only sent by the service itself.
   */
  validate(type: string, data: unknown): ValidationFailure | undefined {
    const entry = this.entries.get(type);
    if (entry === undefined) {
      return { field: 'type', message: `unknown event type ${echo(type)}` };
    }
    if (entry.definition.internal) {
      const message = `event type ${echo(type)} is internal and cannot be published`;
      return { field: 'type', message };
    }
    if (entry.validate(data)) return undefined;
    return toFailure(entry.validate.errors ?? [], data);
  }
}

/** True when a subscription pattern (an exact type, `category.*` or `*`) covers the type. */
export function matchesEventType(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

/**
 * True when a webhook may subscribe to the pattern: `*`, a known category's wildcard, or a
 * publishable type. Internal types are not subscribable: SendTestEvent reaches any webhook anyway.
 */
export function isValidEventTypePattern(pattern: string, catalog: EventCatalog): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return catalog.hasCategory(pattern.slice(0, -2));
  return catalog.has(pattern);
}

function createAjv(): Ajv {
  // strict: a typo in a schema (unknown keyword or format) fails at startup instead of
  // silently accepting everything. allErrors off: the first failure is all we report.
  const ajv = new Ajv({ allErrors: false, strict: true });
  addFormats(ajv);
  return ajv;
}

function echo(type: string): string {
  const shown = type.length > MAX_ECHOED_TYPE ? `${type.slice(0, MAX_ECHOED_TYPE)}...` : type;
  return JSON.stringify(shown);
}

/**
 * With allErrors off, ajv stops at the first failing keyword; the only errors before it are those
 * of the branches of a failed anyOf, which it reports first. So the last error is the decisive one.
 */
function toFailure(errors: readonly ErrorObject[], data: unknown): ValidationFailure {
  const decisive = errors.at(-1);
  if (decisive === undefined) return { field: 'data', message: 'is invalid' };
  const field = fieldOf(decisive.instancePath, data);
  if (decisive.keyword === 'required') {
    const missing = (decisive.params as { missingProperty: string }).missingProperty;
    return { field: appendKey(field, missing), message: 'is required' };
  }
  if (decisive.keyword === 'anyOf') {
    return { field, message: anyOfMessage(decisive, errors) };
  }
  return { field, message: decisive.message ?? 'is invalid' };
}

/** "must match format "ipv4" or "ipv6"" reads better than ajv's "must match a schema in anyOf". */
function anyOfMessage(anyOf: ErrorObject, errors: readonly ErrorObject[]): string {
  const prefix = `${anyOf.schemaPath}/`;
  const branches = errors.filter((e) => e !== anyOf && e.schemaPath.startsWith(prefix));
  const formats = branches.map((e) => (e.keyword === 'format' ? formatOf(e) : ''));
  if (formats.length === 0 || formats.includes('')) return anyOf.message ?? 'is invalid';
  return `must match format ${formats.map((f) => JSON.stringify(f)).join(' or ')}`;
}

/**
 * Turns ajv's JSON Pointer (`/a/b/0`) into `data.a.b[0]`. It walks the data alongside, so an
 * index is written `[0]` only when the container really is an array (an object key "0" is `["0"]`).
 */
function fieldOf(instancePath: string, data: unknown): string {
  let field = 'data';
  let node: unknown = data;
  for (const segment of instancePath.split('/').slice(1)) {
    const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      field += `[${key}]`;
      node = (node as unknown[])[Number(key)];
    } else {
      field = appendKey(field, key);
      node = isRecord(node) ? node[key] : undefined;
    }
  }
  return field;
}

function formatOf(error: ErrorObject): string {
  return (error.params as { format: string }).format;
}

/** `data.key`, or `data["a b"]` for a key that is not an identifier. */
export function appendKey(field: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${field}.${key}` : `${field}[${JSON.stringify(key)}]`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
