import { Hono } from 'hono';
import { parseUploadPurpose, toOpenAIUpload, toOpenAIUploadPart } from '../../files/file-objects';
import type { AppEnv, FilesApi } from '../types';
import { formFile, readJsonObject, readMultipartForm } from './request-bodies';

/** OpenAI's Uploads API: `POST /uploads`, `/uploads/{id}/parts`, `/uploads/{id}/complete`, `/uploads/{id}/cancel`. */
export function uploadRoutes({ uploads, storageQuotaBytes }: FilesApi): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.post('/uploads', async (c) => {
    const body = await readJsonObject(c);
    const upload = await uploads.create(
      c.get('principal'),
      {
        filename: body.filename,
        purpose: parseUploadPurpose(body.purpose),
        bytes: body.bytes,
        mimeType: body.mime_type,
      },
      storageQuotaBytes?.(c.get('principal').tier),
    );
    return c.json(toOpenAIUpload(upload));
  });

  routes.post('/uploads/:uploadId/parts', async (c) => {
    const form = await readMultipartForm(c, 'The part');
    const data = await formFile(form, 'data');
    const part = await uploads.addPart(c.get('principal'), c.req.param('uploadId'), data.bytes);
    return c.json(toOpenAIUploadPart(part));
  });

  routes.post('/uploads/:uploadId/complete', async (c) => {
    const body = await readJsonObject(c);
    const { upload, file } = await uploads.complete(
      c.get('principal'),
      c.req.param('uploadId'),
      body.part_ids,
      storageQuotaBytes?.(c.get('principal').tier),
    );
    return c.json(toOpenAIUpload(upload, file));
  });

  routes.post('/uploads/:uploadId/cancel', async (c) => {
    return c.json(
      toOpenAIUpload(await uploads.cancel(c.get('principal'), c.req.param('uploadId'))),
    );
  });

  return routes;
}
