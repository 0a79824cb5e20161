/**
 * Server reflection as grpcurl uses it: file_containing_symbol for a service, then
 * file_by_filename for each declared import, transitively, and the files linked into one pool
 * from what the server returned alone. Every method's input and output types must resolve, the
 * files must keep their real names and imports, and the well-known types and the health proto
 * must be servable by name and by symbol. Both reflection versions (v1 and v1alpha) are asked.
 */
import path from 'node:path';
import { createFileRegistry, fromBinary, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { expect } from 'chai';
import { testDatabases } from '../support/databases';
import { startSidecar, type TestSidecar } from '../support/sidecar';

/** This file runs as dist/test/integration/reflection.test.js. */
const ROOT = path.join(__dirname, '..', '..', '..');
const VERSIONS = ['v1', 'v1alpha'] as const;
type Version = (typeof VERSIONS)[number];

interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}
type ReflectionCall = grpc.ClientDuplexStream<Record<string, string>, ReflectionResponse>;

/** One reflection stream, asked one question at a time (the next may depend on the answer). */
class Reflection {
  private readonly client: grpc.Client & { ServerReflectionInfo(options: grpc.CallOptions): ReflectionCall };
  private readonly call: ReflectionCall;
  private readonly waiting: Array<{ resolve(res: ReflectionResponse): void; reject(err: Error): void }> = [];

  constructor(version: Version, port: number) {
    const proto = path.join(ROOT, `node_modules/@grpc/reflection/build/proto/grpc/reflection/${version}/reflection.proto`);
    const definition = protoLoader.loadSync(proto, { keepCase: true, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      grpc: { reflection: Record<Version, { ServerReflection: grpc.ServiceClientConstructor }> };
    };
    const Client = pkg.grpc.reflection[version].ServerReflection;
    this.client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Reflection['client'];
    this.call = this.client.ServerReflectionInfo({ deadline: Date.now() + 20_000 });
    this.call.on('data', (res: ReflectionResponse) => this.waiting.shift()?.resolve(res));
    this.call.on('error', (err: Error) => {
      for (const w of this.waiting.splice(0)) w.reject(err);
    });
  }

  ask(request: Record<string, string>): Promise<ReflectionResponse> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.call.write(request);
    });
  }

  /** The files of an answer, decoded; an error answer fails the test with its message. */
  async files(request: Record<string, string>): Promise<FileDescriptorProto[]> {
    const res = await this.ask(request);
    expect(res.error_response, `${JSON.stringify(request)}: ${JSON.stringify(res.error_response)}`).to.equal(undefined);
    const bytes = res.file_descriptor_response?.file_descriptor_proto ?? [];
    expect(bytes, JSON.stringify(request)).to.have.length.greaterThan(0);
    return bytes.map((b) => fromBinary(FileDescriptorProtoSchema, b));
  }

  close(): void {
    this.call.end();
    this.client.close();
  }
}

/**
 * What grpcurl does: the file containing `symbol`, then each import it declares that is not yet
 * known, by filename, until none is missing; then the files linked from those answers alone.
 */
async function linkedFrom(reflection: Reflection, symbol: string): Promise<{ file: FileDescriptorProto; registry: FileRegistry }> {
  const known = new Map<string, FileDescriptorProto>();
  const first = await reflection.files({ file_containing_symbol: symbol });
  for (const f of first) if (!known.has(f.name)) known.set(f.name, f);
  const missing = (): string[] => [...known.values()].flatMap((f) => f.dependency).filter((d) => !known.has(d));
  for (let todo = missing(); todo.length > 0; todo = missing()) {
    for (const name of todo) {
      const files = await reflection.files({ file_by_filename: name });
      expect(files[0]!.name, `file_by_filename ${name}`).to.equal(name);
      for (const f of files) if (!known.has(f.name)) known.set(f.name, f);
    }
  }
  const file = first[0]!;
  return { file, registry: createFileRegistry(file, (name) => known.get(name)) };
}

function fieldType(message: DescMessage, field: string): string | undefined {
  const f = message.fields.find((x) => x.name === field);
  return f?.message?.typeName ?? f?.enum?.typeName;
}

const database = testDatabases()[0]!;

describe(`server reflection, linked like grpcurl does [${database.name}]`, () => {
  let sidecar: TestSidecar;

  before(async () => {
    sidecar = await startSidecar(await database.create());
  });

  after(async () => {
    await sidecar?.stop();
    await database.dropAll();
  });

  for (const version of VERSIONS) {
    describe(`grpc.reflection.${version}`, () => {
      let reflection: Reflection;
      beforeEach(() => {
        reflection = new Reflection(version, sidecar.port);
      });
      afterEach(() => reflection.close());

      it('lists the API services and health', async () => {
        const res = await reflection.ask({ list_services: '' });
        const names = (res.list_services_response?.service ?? []).map((s) => s.name);
        expect(names).to.include.members(['webhooks.v1.EventIngest', 'webhooks.v1.WebhookManagement', 'grpc.health.v1.Health']);
      });

      it('serves webhooks.v1.EventIngest in files that link, with the real names and imports', async () => {
        const { file, registry } = await linkedFrom(reflection, 'webhooks.v1.EventIngest');
        expect(file.name).to.equal('webhooks/v1/ingest.proto');
        expect(file.dependency).to.include('webhooks/v1/event.proto');
        const service = registry.getService('webhooks.v1.EventIngest');
        expect(service?.methods.map((m) => m.name)).to.deep.equal(['PublishEvent', 'PublishEvents', 'StreamEvents']);
        for (const m of service!.methods) {
          expect(m.input.typeName, m.name).to.match(/^webhooks\.v1\./);
          expect(m.output.typeName, m.name).to.match(/^webhooks\.v1\./);
        }
        const event = registry.getMessage('webhooks.v1.Event')!;
        expect(event.file.proto.name).to.equal('webhooks/v1/event.proto');
        expect(fieldType(event, 'occurred_at')).to.equal('google.protobuf.Timestamp');
        expect(fieldType(event, 'data')).to.equal('google.protobuf.Struct');
        expect(registry.getMessage('google.protobuf.Timestamp')?.file.proto.name).to.equal('google/protobuf/timestamp.proto');
        expect(fieldType(registry.getMessage('webhooks.v1.PublishEventRequest')!, 'event')).to.equal('webhooks.v1.Event');
      });

      it('serves webhooks.v1.WebhookManagement in files that link', async () => {
        const { file, registry } = await linkedFrom(reflection, 'webhooks.v1.WebhookManagement');
        expect(file.name).to.equal('webhooks/v1/management.proto');
        expect(file.dependency).to.include.members(['google/protobuf/field_mask.proto', 'google/protobuf/timestamp.proto']);
        const service = registry.getService('webhooks.v1.WebhookManagement')!;
        expect(service.methods).to.have.length.greaterThan(10);
        for (const m of service.methods) {
          expect(m.input.typeName, m.name).to.match(/^webhooks\.v1\./);
          expect(m.output.typeName, m.name).to.match(/^webhooks\.v1\./);
        }
        const update = registry.getMessage('webhooks.v1.UpdateWebhookRequest')!;
        expect(fieldType(update, 'update_mask')).to.equal('google.protobuf.FieldMask');
        expect(fieldType(registry.getMessage('webhooks.v1.Webhook')!, 'create_time')).to.equal('google.protobuf.Timestamp');
      });

      it('serves a method and a message by symbol, and the well-known types and health by name', async () => {
        expect((await reflection.files({ file_containing_symbol: 'webhooks.v1.EventIngest.PublishEvent' }))[0]!.name)
          .to.equal('webhooks/v1/ingest.proto');
        expect((await reflection.files({ file_containing_symbol: 'webhooks.v1.Event' }))[0]!.name)
          .to.equal('webhooks/v1/event.proto');
        expect((await reflection.files({ file_by_filename: 'google/protobuf/struct.proto' }))[0]!.name)
          .to.equal('google/protobuf/struct.proto');
        expect((await reflection.files({ file_containing_symbol: 'google.protobuf.Timestamp' }))[0]!.name)
          .to.equal('google/protobuf/timestamp.proto');
        const { file, registry } = await linkedFrom(reflection, 'grpc.health.v1.Health');
        expect(file.name).to.equal('grpc/health/v1/health.proto');
        expect(registry.getService('grpc.health.v1.Health')?.methods.map((m) => m.name)).to.include.members(['Check', 'Watch']);
        expect((await reflection.files({ file_by_filename: 'grpc/health/v1/health.proto' }))[0]!.name)
          .to.equal('grpc/health/v1/health.proto');
      });

      it('answers NOT_FOUND for an unknown symbol or file', async () => {
        const symbol = await reflection.ask({ file_containing_symbol: 'webhooks.v1.Nope' });
        expect(symbol.error_response?.error_code).to.equal(grpc.status.NOT_FOUND);
        const file = await reflection.ask({ file_by_filename: 'webhooks/v1/nope.proto' });
        expect(file.error_response?.error_code).to.equal(grpc.status.NOT_FOUND);
      });
    });
  }
});
