import { Hono } from 'hono';
import {
  parseListedPurpose,
  parseUploadPurpose,
  toOpenAIFile,
  toOpenAIFileList,
} from '../../files/file-objects';
import { isWellFormedId } from '../../files/ids';
import { BadRequestError } from '../../openai/errors';
import type { OpenAIFileDeleted } from '../../openai/shapes/files';
import type { AppEnv, FilesApi } from '../types';
import { formFile, listLimit, readMultipartForm } from './request-bodies';

const MAX_LIST_LIMIT = 10_000;

function parseOrder(raw: string | undefined): 'asc' | 'desc' {
  if (raw === undefined) return 'desc';
  if (raw !== 'asc' && raw !== 'desc')
    throw new BadRequestError("'order' must be 'asc' or 'desc'.", {
      param: 'order',
      code: 'invalid_value',
    });
  return raw;
}

/**
 * The `after` cursor: a file id. Anything else could never name a file (and a key longer than
 * DynamoDB's 1 KB sort key would fail the query), so it is refused rather than sent on.
 */
function parseAfter(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!isWellFormedId('file-', raw)) {
    throw new BadRequestError(`'after' must be a file id (file-...), got '${raw.slice(0, 100)}'.`, {
      param: 'after',
      code: 'invalid_value',
    });
  }
  return raw;
}

/** `POST/GET /files`, `GET/DELETE /files/{id}`, `GET /files/{id}/content`: OpenAI's Files API. */
export function fileRoutes({ files, storageQuotaBytes }: FilesApi): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.post('/files', async (c) => {
    const form = await readMultipartForm(c, 'The file');
    const purpose = parseUploadPurpose(form.get('purpose'));
    if (form.get('expires_after[anchor]') !== null || form.get('expires_after[seconds]') !== null) {
      throw new BadRequestError(
        "'expires_after' is not supported: files stay until you delete them.",
        {
          param: 'expires_after',
          code: 'unsupported_parameter',
        },
      );
    }
    const file = await formFile(form, 'file');
    const record = await files.create(
      c.get('principal'),
      { filename: file.name, purpose, content: file.bytes },
      storageQuotaBytes?.(c.get('principal').tier),
    );
    return c.json(toOpenAIFile(record));
  });

  routes.get('/files', async (c) => {
    const { files: page, hasMore } = await files.list(c.get('principal'), {
      purpose: parseListedPurpose(c.req.query('purpose')),
      order: parseOrder(c.req.query('order')),
      after: parseAfter(c.req.query('after')),
      limit: listLimit(c.req.query('limit'), MAX_LIST_LIMIT, MAX_LIST_LIMIT),
    });
    return c.json(toOpenAIFileList(page, hasMore));
  });

  routes.get('/files/:fileId', async (c) => {
    return c.json(toOpenAIFile(await files.get(c.get('principal'), c.req.param('fileId'))));
  });

  routes.get('/files/:fileId/content', async (c) => {
    const content = await files.content(c.get('principal'), c.req.param('fileId'));
    if ('url' in content) return c.redirect(content.url, 302);
    return c.body(content.body as Uint8Array<ArrayBuffer>, 200, {
      // Text, so the buffered Lambda adapter answers it as is (handlers/api.ts): content that is
      // not UTF-8 (audio, adapter archives) is answered by redirect (FilesService.content).
      'content-type': 'application/jsonl; charset=utf-8',
      'content-disposition': `attachment; filename="${encodeURIComponent(content.file.filename)}"`,
    });
  });

  routes.delete('/files/:fileId', async (c) => {
    const file = await files.delete(c.get('principal'), c.req.param('fileId'));
    return c.json<OpenAIFileDeleted>({ id: file.fileId, object: 'file', deleted: true });
  });

  return routes;
}
