import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { BatchRecord } from '../../../lambda/batches/batches-repository';
import { BatchesRepository } from '../../../lambda/batches/batches-repository';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import {
  everyProject,
  inDefaultProject,
  isInScope,
  type ProjectScope,
} from '../../../lambda/customers/project-ownership';
import type { FileRecord, UploadRecord } from '../../../lambda/files/files-repository';
import { FilesRepository } from '../../../lambda/files/files-repository';
import { FILES_TABLE } from '../../../lambda/files/files-table';
import type { JobRecord } from '../../../lambda/fine-tuning/jobs';
import { JobsRepository } from '../../../lambda/fine-tuning/jobs-repository';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { createLeanDocumentClient } from '../../../lambda/storage/lean-document-client';
import { ensureFilesTable, ensureFineTuningTable } from '../../../local/local-tables';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';

/**
 * Each repository answers a project only its own files, uploads, batches and jobs (and the default
 * project those stored before projects were recorded), on dynalite through both document clients;
 * the whole organization's scope (the worker, the operator's sweeps) sees every project's.
 */
const FILES = 'files-projects';
const JOBS = 'jobs-projects';
let dynamo: LocalDynamo;
/** Ids sort by creation, as time-ordered ids do; unique across both clients' runs (jobs are keyed by id alone). */
let sequence = 0;
const nextId = (prefix: string) => {
  sequence += 1;
  return `${prefix}${String(sequence).padStart(6, '0')}x`;
};

beforeAll(async () => {
  dynamo = await startDynalite();
  await ensureFilesTable(dynamo.client, FILES);
  await ensureFineTuningTable(dynamo.client, JOBS);
});
afterAll(() => dynamo.stop());

describe('isInScope', () => {
  const home = inDefaultProject('cus_rule');
  const team = { customerId: 'cus_rule', projectId: 'proj_team' };

  it("answers an item of the scope's project, a legacy item to the default project, all to the organization", () => {
    expect(isInScope({ customerId: 'cus_rule', projectId: 'proj_team' }, team)).toBe(true);
    expect(isInScope({ customerId: 'cus_rule', projectId: 'proj_team' }, home)).toBe(false);
    expect(isInScope({ customerId: 'cus_rule' }, home)).toBe(true);
    expect(isInScope({ customerId: 'cus_rule' }, team)).toBe(false);
    expect(
      isInScope({ customerId: 'cus_rule', projectId: 'proj_team' }, everyProject('cus_rule')),
    ).toBe(true);
    // Another organization's item, even naming the same project id, is never in scope.
    expect(isInScope({ customerId: 'cus_else', projectId: 'proj_team' }, team)).toBe(false);
    expect(isInScope({ customerId: 'cus_else' }, everyProject('cus_rule'))).toBe(false);
  });
});

describe.each([
  ['the SDK document client', () => createDocumentClient(dynamo.client)],
  ['the lean document client', () => createLeanDocumentClient(dynamo.client)],
])('repositories scoped to a project with %s', (label, makeClient) => {
  const org = `cus_${label.split(' ')[1]}`;
  const home: ProjectScope = inDefaultProject(org);
  const team: ProjectScope = { customerId: org, projectId: 'proj_team' };

  const file = (projectId: string | undefined, purpose: FileRecord['purpose'] = 'batch') => ({
    fileId: nextId('file-'),
    customerId: org,
    ...(projectId === undefined ? {} : { projectId }),
    filename: 'a.jsonl',
    purpose,
    bytes: 3,
    lines: 1,
    createdAt: 1,
    objectKey: 'k',
  });

  it('gets, lists and deletes only the files of the scope, the legacy ones in the default project', async () => {
    const files = new FilesRepository(makeClient(), FILES);
    const legacy = file(undefined);
    const homes = [file(home.projectId), legacy];
    // More of the other project's than a page holds, between and around the default's.
    const teams = [file(team.projectId), file(team.projectId, 'fine-tune'), file(team.projectId)];
    for (const record of [teams[0], homes[0], teams[1], teams[2], homes[1]] as FileRecord[])
      await files.putFile(record);

    for (const record of homes) {
      expect((await files.getFile(home, record.fileId))?.fileId).toBe(record.fileId);
      expect(await files.getFile(team, record.fileId)).toBeUndefined();
    }
    for (const record of teams) expect(await files.getFile(home, record.fileId)).toBeUndefined();
    const all = await files.listFiles(everyProject(org), { order: 'asc', limit: 100 });
    expect(all.files).toHaveLength(5);

    // A page of one at a time reads on past the other project's files, and says when it ends.
    const paged: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await files.listFiles(home, { order: 'asc', limit: 1, after });
      paged.push(...page.files.map((f) => f.fileId));
      after = page.files.at(-1)?.fileId;
      if (!page.hasMore) break;
    }
    expect(paged).toEqual(homes.map((f) => f.fileId).sort());
    const teamBatch = await files.listFiles(team, { order: 'desc', limit: 10, purpose: 'batch' });
    expect(teamBatch.files.map((f) => f.fileId)).toEqual([teams[2]?.fileId, teams[0]?.fileId]);
    expect(teamBatch.hasMore).toBe(false);

    // A delete in the wrong project takes nothing; in the right one, the record.
    expect(await files.deleteFile(home, teams[0]?.fileId ?? '')).toBeUndefined();
    expect(await files.deleteFile(team, legacy.fileId)).toBeUndefined();
    expect((await files.getFile(team, teams[0]?.fileId ?? ''))?.projectId).toBe(team.projectId);
    expect((await files.deleteFile(home, legacy.fileId))?.fileId).toBe(legacy.fileId);
    expect((await files.deleteFile(team, teams[0]?.fileId ?? ''))?.fileId).toBe(teams[0]?.fileId);
    expect(await files.deleteFile(team, teams[0]?.fileId ?? '')).toBeUndefined();
  });

  it("reads past many of another project's files in a few queries, not one per page's worth", async () => {
    const files = new FilesRepository(makeClient(), FILES);
    const lone = { ...file(undefined), customerId: `${org}_many` };
    await files.putFile(lone);
    for (let i = 0; i < 300; i += 1)
      await files.putFile({ ...file(team.projectId), customerId: `${org}_many` });
    const calls = dynamo.calls();
    const page = await files.listFiles(inDefaultProject(`${org}_many`), { order: 'asc', limit: 2 });
    expect(page).toEqual({ files: [lone], hasMore: false });
    // 3, 6, 12, ..., 384 items read: 8 queries; one per 3 items read would take 101.
    expect(dynamo.calls() - calls).toBeLessThanOrEqual(8);
  });

  it('gets an upload only in its project', async () => {
    const files = new FilesRepository(makeClient(), FILES);
    const upload = (projectId?: string): UploadRecord => ({
      uploadId: nextId('upload_'),
      customerId: org,
      ...(projectId === undefined ? {} : { projectId }),
      filename: 'u.jsonl',
      purpose: 'batch',
      bytes: 3,
      mimeType: 'text/jsonl',
      status: 'pending',
      createdAt: 1,
      expiresAt: 2,
      fileId: nextId('file-'),
    });
    const theirs = upload(team.projectId);
    const legacy = upload();
    await files.putUpload(theirs);
    await files.putUpload(legacy);
    expect(await files.getUpload(home, theirs.uploadId)).toBeUndefined();
    expect((await files.getUpload(team, theirs.uploadId))?.projectId).toBe(team.projectId);
    expect((await files.getUpload(home, legacy.uploadId))?.uploadId).toBe(legacy.uploadId);
    expect(await files.getUpload(team, legacy.uploadId)).toBeUndefined();
    expect(await files.getUpload(everyProject(org), theirs.uploadId)).toBeDefined();
  });

  it("lists only the scope's batches, newest first, paging past the other project's", async () => {
    const doc = makeClient();
    const batches = new BatchesRepository(doc, FILES);
    const batch = (projectId?: string): BatchRecord => ({
      batchId: nextId('batch_'),
      customerId: org,
      ...(projectId === undefined ? {} : { projectId }),
      tier: 'developer',
      inputFileId: 'file-x',
      endpoint: '/v1/chat/completions',
      completionWindow: '24h',
      metadata: null,
      status: 'completed',
      createdAt: 1,
      expiresAt: 2,
      times: {},
      total: 1,
      completed: 1,
      failed: 0,
    });
    const made = [batch(), batch(team.projectId), batch(team.projectId), batch(home.projectId)];
    for (const record of made) await batches.putBatch(record);
    const ids = async (scope: ProjectScope) => {
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await batches.listBatches(scope, 1, after);
        seen.push(...page.batches.map((b) => b.batchId));
        after = page.batches.at(-1)?.batchId;
        if (!page.hasMore) return seen;
      }
    };
    expect(await ids(home)).toEqual([made[3]?.batchId, made[0]?.batchId]);
    expect(await ids(team)).toEqual([made[2]?.batchId, made[1]?.batchId]);
    expect((await batches.listBatches(everyProject(org), 10)).batches).toHaveLength(4);
  });

  it("gets and lists only the scope's jobs, and claims an Idempotency-Key per project", async () => {
    const doc = makeClient();
    const jobs = new JobsRepository(doc, JOBS);
    const job = (createdAt: number, projectId?: string): JobRecord => ({
      jobId: nextId('ftjob-'),
      customerId: org,
      ...(projectId === undefined ? {} : { projectId }),
      model: 'qwen3-8b',
      status: 'failed',
      createdAt,
      trainingFile: 'file-x',
      seed: 1,
      hyperparameters: { nEpochs: 1, batchSize: 1, learningRateMultiplier: 1 },
      lora: { rank: 8, alpha: 16, targetModules: ['q_proj'] },
      estimatedTrainedTokens: 1,
      estimatedCostUsd: 0,
    });
    const legacy = job(1);
    const theirs = job(2, team.projectId);
    const mine = job(3, home.projectId);
    for (const record of [legacy, theirs, mine]) await jobs.create(record);

    expect(await jobs.getOwned(home, theirs.jobId)).toBeUndefined();
    expect((await jobs.getOwned(team, theirs.jobId))?.jobId).toBe(theirs.jobId);
    expect((await jobs.getOwned(home, legacy.jobId))?.jobId).toBe(legacy.jobId);
    expect(await jobs.getOwned(team, legacy.jobId)).toBeUndefined();
    expect(
      await jobs.getOwned({ customerId: 'cus_else', projectId: 'proj_team' }, theirs.jobId),
    ).toBeUndefined();

    const first = await jobs.list(home, 1);
    expect(first).toEqual({ jobs: [mine], hasMore: true });
    expect(await jobs.list(home, 1, mine)).toEqual({ jobs: [legacy], hasMore: false });
    expect((await jobs.list(team, 10)).jobs.map((j) => j.jobId)).toEqual([theirs.jobId]);
    expect((await jobs.list(everyProject(org), 10)).jobs).toHaveLength(3);

    // The same key in two projects is two claims: neither answers the other's job.
    const claim = (jobId: string) => ({ jobId, fingerprint: 'f', claimedAt: 1 });
    expect(await jobs.claimIdempotencyKey(home, 'same-key', claim(mine.jobId))).toBe(true);
    expect(await jobs.claimIdempotencyKey(team, 'same-key', claim(theirs.jobId))).toBe(true);
    expect(await jobs.claimIdempotencyKey(team, 'same-key', claim('ftjob-late'))).toBe(false);
    expect((await jobs.getIdempotencyClaim(home, 'same-key'))?.jobId).toBe(mine.jobId);
    expect((await jobs.getIdempotencyClaim(team, 'same-key'))?.jobId).toBe(theirs.jobId);
  });

  it("reads a file written without a project (before projects) as the default project's", async () => {
    const doc = makeClient();
    const fileId = nextId('file-');
    await doc.send(
      new PutCommand({
        TableName: FILES,
        Item: {
          [FILES_TABLE.partitionKey]: `CUS#${org}`,
          [FILES_TABLE.sortKey]: `FILE#${fileId}`,
          fileId,
          customerId: org,
          filename: 'old.jsonl',
          purpose: 'batch',
          bytes: 1,
          lines: 1,
          createdAt: 1,
          objectKey: 'k',
        },
      }),
    );
    const files = new FilesRepository(doc, FILES);
    expect(home.projectId).toBe(defaultProjectId(org));
    expect((await files.getFile(home, fileId))?.filename).toBe('old.jsonl');
    expect(await files.getFile(team, fileId)).toBeUndefined();
  });
});
