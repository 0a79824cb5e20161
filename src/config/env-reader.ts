export class ConfigError extends Error {}

export type Env = Readonly<Record<string, string | undefined>>;

const MIN_TOKEN_LENGTH = 16;

/** Reads one variable at a time and wraps every problem in a ConfigError naming it. */
export class EnvReader {
  constructor(private readonly env: Env) {}

  with<T>(name: string, fallback: string, parse: (value: string) => T): T {
    const raw = this.env[name];
    const value = raw === undefined || raw === '' ? fallback : raw;
    try {
      return parse(value);
    } catch (err) {
      throw new ConfigError(`${name}: ${(err as Error).message}`, { cause: err });
    }
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    return this.with(name, String(fallback), (value) => {
      if (!/^\d+$/.test(value.trim())) throw new Error(`must be a whole number, got "${value}"`);
      const n = Number(value.trim());
      if (n < min || n > max) throw new Error(`must be between ${min} and ${max}, got ${n}`);
      return n;
    });
  }

  oneOf(name: string, fallback: string, allowed: readonly string[]): string {
    return this.with(name, fallback, (value) => {
      if (!allowed.includes(value)) throw new Error(`must be one of ${allowed.join(', ')}`);
      return value;
    });
  }

  /** A bearer token: printable ASCII without spaces, long enough not to be guessed. */
  optionalToken(name: string): string | undefined {
    return this.with(name, '', (value) => {
      if (value === '') return undefined;
      if (!/^[\x21-\x7e]+$/.test(value)) throw new Error('must be printable ASCII without spaces');
      if (value.length < MIN_TOKEN_LENGTH) {
        throw new Error(`must be at least ${MIN_TOKEN_LENGTH} characters`);
      }
      return value;
    });
  }
}
