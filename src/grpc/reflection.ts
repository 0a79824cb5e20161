/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) served from the FileDescriptorSets that
 * `buf build` writes next to this file on `npm run build`: the files exactly as the compiler made
 * them, with their real names (webhooks/v1/event.proto), their imports and fully-qualified type
 * names, and the well-known types they import. A client such as grpcurl follows each file's
 * imports by name and links what it got; that works only with the files as compiled.
 *
 * @grpc/reflection is not used for this: it takes proto-loader's package definition, which
 * protobufjs rebuilds as one file per package (webhooks_v1.proto, google_protobuf.proto) without
 * imports (grpc/grpc-node#2958, #3034), and clients cannot link those.
 */
import fs from 'node:fs';
import path from 'node:path';
import { create, createFileRegistry, fromBinary, toBinary, type DescEnum, type DescFile, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/**
 * Written by `npm run build` (see package.json): the API with the well-known types it imports,
 * and grpc-health-check's health.proto.
 */
export const DESCRIPTOR_SET_FILES = [path.join(__dirname, 'webhooks.binpb'), path.join(__dirname, 'health.binpb')];

/**
 * grpc-health-check ships health.proto under proto/health/v1/, so buf names it
 * health/v1/health.proto; every other gRPC server calls it grpc/health/v1/health.proto, after
 * its package. Nothing imports it, so the name can change without touching another file.
 */
const RENAMED_FILES: Readonly<Record<string, string>> = { 'health/v1/health.proto': 'grpc/health/v1/health.proto' };

/** The reflection protocol's own .proto files, as @grpc/reflection ships them. */
const REFLECTION_PROTO_DIR = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
const VERSIONS = ['v1', 'v1alpha'] as const;

/** A ServerReflectionRequest as proto-loader decodes it (keepCase, oneofs). */
interface ReflectionRequest {
  host?: string;
  message_request?: 'file_by_filename' | 'file_containing_symbol' | 'file_containing_extension' | 'all_extension_numbers_of_type' | 'list_services';
  file_by_filename?: string;
  file_containing_symbol?: string;
  file_containing_extension?: { containing_type?: string; extension_number?: number };
  all_extension_numbers_of_type?: string;
  list_services?: string;
}

interface ReflectionResponse {
  valid_host: string;
  original_request: ReflectionRequest;
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  all_extension_numbers_response?: { base_type_name: string; extension_number: number[] };
  list_services_response?: { service: Array<{ name: string }> };
  error_response?: { error_code: number; error_message: string };
}

class NotFound extends Error {}

/** The descriptor files by name and by every symbol they declare, and the services among them. */
export class DescriptorIndex {
  private readonly encoded = new Map<string, Buffer>();
  private readonly protos = new Map<string, FileDescriptorProto>();
  private readonly symbols = new Map<string, string>();
  private readonly registry: FileRegistry;
  readonly services: string[] = [];

  constructor(files: FileDescriptorProto[]) {
    for (const file of files) {
      if (this.protos.has(file.name)) continue;
      this.protos.set(file.name, file);
      this.encoded.set(file.name, Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
    }
    // Linking them here fails at start-up, not in a client, if a file or type were missing.
    this.registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [...this.protos.values()] }));
    for (const file of this.registry.files) this.indexFile(file);
  }

  static fromFiles(paths: readonly string[] = DESCRIPTOR_SET_FILES): DescriptorIndex {
    const files = paths.flatMap((p) => fromBinary(FileDescriptorSetSchema, fs.readFileSync(p)).file);
    for (const file of files) {
      const renamed = RENAMED_FILES[file.name];
      if (renamed === undefined) continue;
      const importer = files.find((f) => f.dependency.includes(file.name));
      if (importer) throw new Error(`${importer.name} imports ${file.name}, which reflection renames to ${renamed}`);
      file.name = renamed;
    }
    return new DescriptorIndex(files);
  }

  /** The file named `name` and every file it imports, transitively; the named file first. */
  fileByFilename(name: string): Buffer[] {
    if (!this.protos.has(name)) throw new NotFound(`file not found: ${name}`);
    const order: string[] = [];
    const visit = (n: string): void => {
      if (order.includes(n)) return;
      order.push(n);
      for (const dep of this.protos.get(n)?.dependency ?? []) visit(dep);
    };
    visit(name);
    return order.map((n) => this.encoded.get(n)!);
  }

  fileContainingSymbol(symbol: string): Buffer[] {
    const file = this.symbols.get(symbol.replace(/^\./, ''));
    if (file === undefined) throw new NotFound(`symbol not found: ${symbol}`);
    return this.fileByFilename(file);
  }

  fileContainingExtension(containingType: string, number: number): Buffer[] {
    const extendee = this.registry.getMessage(containingType);
    const extension = extendee && this.registry.getExtensionFor(extendee, number);
    if (!extension) throw new NotFound(`extension not found: ${containingType} field ${number}`);
    return this.fileByFilename(extension.file.proto.name);
  }

  allExtensionNumbersOfType(typeName: string): number[] {
    if (!this.registry.getMessage(typeName)) throw new NotFound(`type not found: ${typeName}`);
    const numbers: number[] = [];
    for (const desc of this.registry) {
      if (desc.kind === 'extension' && desc.extendee.typeName === typeName) numbers.push(desc.number);
    }
    return numbers;
  }

  private indexFile(file: DescFile): void {
    const name = file.proto.name;
    const add = (symbol: string): void => {
      if (!this.symbols.has(symbol)) this.symbols.set(symbol, name);
    };
    // Enum values are scoped beside their enum, not inside it (as in C++).
    const addEnum = (e: DescEnum): void => {
      add(e.typeName);
      const scope = e.typeName.slice(0, e.typeName.length - e.name.length);
      for (const v of e.values) add(scope + v.name);
    };
    const addMessage = (m: DescMessage): void => {
      add(m.typeName);
      for (const f of m.fields) add(`${m.typeName}.${f.name}`);
      for (const o of m.oneofs) add(`${m.typeName}.${o.name}`);
      m.nestedMessages.forEach(addMessage);
      m.nestedEnums.forEach(addEnum);
      for (const x of m.nestedExtensions) add(x.typeName);
    };
    file.messages.forEach(addMessage);
    file.enums.forEach(addEnum);
    for (const x of file.extensions) add(x.typeName);
    for (const s of file.services) {
      add(s.typeName);
      for (const m of s.methods) add(`${s.typeName}.${m.name}`);
      this.services.push(s.typeName);
    }
  }

  answer(request: ReflectionRequest): ReflectionResponse {
    const response: ReflectionResponse = { valid_host: request.host ?? '', original_request: request };
    try {
      switch (request.message_request) {
        case 'file_by_filename':
          response.file_descriptor_response = { file_descriptor_proto: this.fileByFilename(request.file_by_filename ?? '') };
          break;
        case 'file_containing_symbol':
          response.file_descriptor_response = { file_descriptor_proto: this.fileContainingSymbol(request.file_containing_symbol ?? '') };
          break;
        case 'file_containing_extension': {
          const { containing_type = '', extension_number = 0 } = request.file_containing_extension ?? {};
          response.file_descriptor_response = { file_descriptor_proto: this.fileContainingExtension(containing_type, extension_number) };
          break;
        }
        case 'all_extension_numbers_of_type': {
          const typeName = request.all_extension_numbers_of_type ?? '';
          response.all_extension_numbers_response = { base_type_name: typeName, extension_number: this.allExtensionNumbersOfType(typeName) };
          break;
        }
        case 'list_services':
          response.list_services_response = { service: this.services.map((name) => ({ name })) };
          break;
        default:
          response.error_response = { error_code: grpc.status.INVALID_ARGUMENT, error_message: 'no message_request set' };
      }
    } catch (err) {
      response.error_response = err instanceof NotFound
        ? { error_code: grpc.status.NOT_FOUND, error_message: err.message }
        : { error_code: grpc.status.INTERNAL, error_message: String(err) };
    }
    return response;
  }
}

/** Adds grpc.reflection.v1.ServerReflection and its v1alpha twin, both answering from `index`. */
export function addReflection(server: grpc.Server, index: DescriptorIndex = DescriptorIndex.fromFiles()): void {
  for (const version of VERSIONS) {
    const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
      includeDirs: [REFLECTION_PROTO_DIR], keepCase: true, oneofs: true,
    });
    const service = definition[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition;
    server.addService(service, {
      ServerReflectionInfo: (call: grpc.ServerDuplexStream<ReflectionRequest, ReflectionResponse>) => {
        call.on('data', (request: ReflectionRequest) => call.write(index.answer(request)));
        call.on('end', () => call.end());
      },
    });
  }
}
