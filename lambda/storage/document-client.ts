import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { marshallOptions } from '@aws-sdk/util-dynamodb';
import { awsClientOptions } from './aws-clients';

/** How every Tierline document client marshals: optional fields left undefined are simply not written. */
export const DOCUMENT_MARSHALLING: marshallOptions = { removeUndefinedValues: true };

/** The SDK's document client with Tierline's marshalling (see lean-document-client.ts for the request path). */
export function createDocumentClient(
  client: DynamoDBClient = new DynamoDBClient(awsClientOptions()),
): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { ...DOCUMENT_MARSHALLING } });
}
