import type * as z from 'zod/mini';
import { transcriptionShape, verboseTranscriptionShape } from './audio';
import { batchListShape, batchShape } from './batches';
import { billingCheckoutShape, billingShape } from './billing';
import { chatCompletionChunkShape, chatCompletionShape, usageShape } from './chat';
import { errorResponseShape, errorShape } from './errors';
import { fileDeletedShape, fileListShape, fileShape, uploadPartShape, uploadShape } from './files';
import {
  fineTuningDeletedShape,
  fineTuningJobCheckpointListShape,
  fineTuningJobEventListShape,
  fineTuningJobListShape,
  fineTuningJobShape,
  fineTuningListShape,
  fineTuningShape,
} from './fine-tuning';
import { apiKeyListShape, apiKeyShape, createdApiKeyShape } from './keys';
import { limitsShape } from './limits';
import {
  inviteAcceptedShape,
  inviteDeletedShape,
  inviteListShape,
  inviteShape,
  organizationUserDeletedShape,
  organizationUserListShape,
  organizationUserShape,
} from './members';
import { modelDeletedShape, modelListShape, modelShape } from './models';
import {
  adminApiKeyDeletedShape,
  adminApiKeyListShape,
  adminApiKeyShape,
  auditLogListShape,
  auditLogShape,
  completionsUsagePageShape,
  costsPageShape,
  createdAdminApiKeyShape,
  organizationSpendAlertDeletedShape,
  organizationSpendAlertListShape,
  organizationSpendAlertShape,
  organizationSpendLimitDeletedShape,
  organizationSpendLimitShape,
  projectApiKeyDeletedShape,
  projectApiKeyListShape,
  projectApiKeyShape,
  projectListShape,
  projectRateLimitListShape,
  projectRateLimitShape,
  projectShape,
  projectSpendAlertDeletedShape,
  projectSpendAlertListShape,
  projectSpendAlertShape,
  projectSpendLimitDeletedShape,
  projectSpendLimitShape,
  transcriptionsUsagePageShape,
} from './organization';
import { customerShape, planListShape, planShape } from './plans';
import {
  inputTokensShape,
  responseDeletedShape,
  responseItemListShape,
  responseShape,
  responseStreamEventShape,
} from './responses';
import {
  organizationMembershipListShape,
  organizationMembershipShape,
  signedUpOrganizationShape,
} from './sign-up';
import { spendLimitShape, usageFieldsShape, usageListShape } from './usage';

/**
 * Every response shape of the API by its name in `/openapi.json` (`#/components/schemas/<name>`).
 * The OpenAPI document is generated from this registry, the server's types are `z.output` of the
 * same schemas and the console imports those types, so a shape is declared once. A new route's
 * shapes go in a file of their own beside these, and one line each here.
 *
 * A shape used inside another (a File in a FileList) is written as a `$ref` to its own entry.
 */
export const responseShapes = {
  SignedUpOrganization: signedUpOrganizationShape,
  OrganizationMembership: organizationMembershipShape,
  OrganizationMembershipList: organizationMembershipListShape,
  Error: errorShape,
  ErrorResponse: errorResponseShape,
  Usage: usageShape,
  ChatCompletion: chatCompletionShape,
  ChatCompletionChunk: chatCompletionChunkShape,
  Response: responseShape,
  ResponseStreamEvent: responseStreamEventShape,
  ResponseDeleted: responseDeletedShape,
  ResponseItemList: responseItemListShape,
  ResponseInputTokens: inputTokensShape,
  Model: modelShape,
  ModelList: modelListShape,
  ModelDeleted: modelDeletedShape,
  File: fileShape,
  FileList: fileListShape,
  FileDeleted: fileDeletedShape,
  Upload: uploadShape,
  UploadPart: uploadPartShape,
  Batch: batchShape,
  BatchList: batchListShape,
  FineTuningJob: fineTuningJobShape,
  FineTuningJobList: fineTuningJobListShape,
  FineTuningJobEventList: fineTuningJobEventListShape,
  FineTuningJobCheckpointList: fineTuningJobCheckpointListShape,
  FineTuning: fineTuningShape,
  FineTuningList: fineTuningListShape,
  FineTuningDeleted: fineTuningDeletedShape,
  Plan: planShape,
  PlanList: planListShape,
  Customer: customerShape,
  UsageFields: usageFieldsShape,
  UsageList: usageListShape,
  SpendLimit: spendLimitShape,
  ApiKey: apiKeyShape,
  CreatedApiKey: createdApiKeyShape,
  ApiKeyList: apiKeyListShape,
  Limits: limitsShape,
  Project: projectShape,
  ProjectList: projectListShape,
  ProjectApiKey: projectApiKeyShape,
  ProjectApiKeyList: projectApiKeyListShape,
  ProjectApiKeyDeleted: projectApiKeyDeletedShape,
  AdminApiKey: adminApiKeyShape,
  AdminApiKeyList: adminApiKeyListShape,
  CreatedAdminApiKey: createdAdminApiKeyShape,
  AdminApiKeyDeleted: adminApiKeyDeletedShape,
  AuditLog: auditLogShape,
  AuditLogList: auditLogListShape,
  OrganizationUser: organizationUserShape,
  OrganizationUserList: organizationUserListShape,
  OrganizationUserDeleted: organizationUserDeletedShape,
  Invite: inviteShape,
  InviteList: inviteListShape,
  InviteDeleted: inviteDeletedShape,
  InviteAccepted: inviteAcceptedShape,
  ProjectRateLimit: projectRateLimitShape,
  ProjectRateLimitList: projectRateLimitListShape,
  ProjectSpendLimit: projectSpendLimitShape,
  ProjectSpendLimitDeleted: projectSpendLimitDeletedShape,
  OrganizationSpendLimit: organizationSpendLimitShape,
  OrganizationSpendLimitDeleted: organizationSpendLimitDeletedShape,
  OrganizationSpendAlert: organizationSpendAlertShape,
  OrganizationSpendAlertList: organizationSpendAlertListShape,
  OrganizationSpendAlertDeleted: organizationSpendAlertDeletedShape,
  ProjectSpendAlert: projectSpendAlertShape,
  ProjectSpendAlertList: projectSpendAlertListShape,
  ProjectSpendAlertDeleted: projectSpendAlertDeletedShape,
  CompletionsUsagePage: completionsUsagePageShape,
  TranscriptionsUsagePage: transcriptionsUsagePageShape,
  CostsPage: costsPageShape,
  Transcription: transcriptionShape,
  VerboseTranscription: verboseTranscriptionShape,
  Billing: billingShape,
  BillingCheckout: billingCheckoutShape,
} satisfies Record<string, z.ZodMiniType>;

export type ResponseShapeName = keyof typeof responseShapes;
