/** The shape of a CLI command and what it gets to run: parsed flags, output, lazy clients. */
import type { Env } from '../config/env-reader';
import type { EventIngestClient } from '../grpc/generated/webhooks/v1/ingest';
import type { WebhookManagementClient } from '../grpc/generated/webhooks/v1/management';
import { type OptionSpec, type ParsedArgs } from './args';
import { Connection, connectionSettings, ingestMetadata, managementMetadata, type Promised } from './connection';
import { Output, type Writer } from './output';

export interface CliIo {
  readonly env: Env;
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly stdin: NodeJS.ReadableStream;
  /** Stops a command that runs until stopped (deliveries tail): SIGINT in the bin, a test otherwise. */
  readonly signal?: AbortSignal;
}

export interface Command {
  readonly name: string;
  /** Arguments after the command's name, for the help text. */
  readonly usage: string;
  readonly summary: string;
  readonly options?: OptionSpec;
  /** Resolves to the exit code (0 when nothing is returned). */
  run(ctx: Context): Promise<number | void>;
}

/** `webhooks-sidecar GROUP COMMAND ...`; a group of one command of its own name takes none. */
export interface Group {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly summary: string;
  readonly commands: readonly Command[];
}

export class Context {
  readonly out: Output;
  private conn: Connection | undefined;

  constructor(
    readonly io: CliIo,
    readonly args: ParsedArgs,
  ) {
    this.out = new Output(io.stdout, args.values.json === true);
  }

  management(): Promised<WebhookManagementClient> {
    return this.connection().management(managementMetadata(this.args, this.io.env));
  }

  ingest(): Promised<EventIngestClient> {
    return this.connection().ingest(ingestMetadata(this.args, this.io.env));
  }

  connection(): Connection {
    this.conn ??= new Connection(connectionSettings(this.args, this.io.env));
    return this.conn;
  }

  close(): void {
    this.conn?.close();
  }
}
