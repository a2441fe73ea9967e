import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  type DeleteCommand,
  type DeleteCommandOutput,
  DynamoDBDocumentClient,
  type GetCommand,
  type GetCommandOutput,
  type PutCommand,
  type PutCommandOutput,
  type QueryCommand,
  type QueryCommandOutput,
  type ScanCommand,
  type ScanCommandOutput,
  type UpdateCommand,
  type UpdateCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import type { marshallOptions } from '@aws-sdk/util-dynamodb';

/** How every Tierline document client marshals: optional fields left undefined are simply not written. */
export const DOCUMENT_MARSHALLING: marshallOptions = { removeUndefinedValues: true };

/**
 * What every repository takes, beside its table name: the document client's commands Tierline uses,
 * and nothing else (no `middlewareStack`, no `config`). Two implementations stand behind it:
 *
 * - the SDK's `DynamoDBDocumentClient` ({@link createDocumentClient}): every call goes through the
 *   SDK's middleware stack;
 * - the lean client (`LeanDocumentClient`, lean-document-client.ts): the five item operations go
 *   straight to DynamoDB, everything else through an SDK document client it owns.
 *
 * Middleware belongs to the SDK client, so it is added where the client is chosen (the composition
 * root), never through a repository's `doc`: a caller that needs its middleware to see every call
 * picks the SDK implementation (local mode's `instrumentDynamo` does).
 */
export interface DocumentClient {
  send(command: GetCommand): Promise<GetCommandOutput>;
  send(command: PutCommand): Promise<PutCommandOutput>;
  send(command: UpdateCommand): Promise<UpdateCommandOutput>;
  send(command: DeleteCommand): Promise<DeleteCommandOutput>;
  send(command: QueryCommand): Promise<QueryCommandOutput>;
  /** Only the local API Gateway emulator's listing scans; the runtime never does. */
  send(command: ScanCommand): Promise<ScanCommandOutput>;
}

/**
 * The SDK's document client with Tierline's marshalling, on the client its caller made (the
 * composition root, a tool, a test): no default client, so none is built unseen.
 */
export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { ...DOCUMENT_MARSHALLING } });
}
