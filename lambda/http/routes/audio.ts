import type { Context } from 'hono';
import { Hono } from 'hono';
import { ACCEPTED_FORMATS, measureAudio } from '../../audio/audio-duration';
import type { SpeechBackend, Transcript } from '../../audio/speech-backend';
import { billedSeconds, resolveSpeechModel } from '../../audio/speech-models';
import { audioAnswer } from '../../audio/transcript-formats';
import { type AudioTask, formFields, parseAudioRequest } from '../../audio/transcription-request';
import type { ProjectScope } from '../../customers/project-ownership';
import { BackendError } from '../../inference/backends/model-backend';
import type { MeteredRequest } from '../../metering/request-metering';
import { BadRequestError, HttpError, NotFoundError } from '../../openai/errors';
import type { ApiDependencies, AppEnv } from '../types';
import { backendFailureToHttp } from './chat-completions';
import { MAX_MULTIPART_REQUEST_BYTES, readMultipartForm } from './request-bodies';

/**
 * The largest audio request: one buffered Lambda invocation. Lambda takes 6 MB per synchronous
 * request and API Gateway passes a multipart body base64-encoded (4/3 larger), so 4 MiB of body
 * is what reaches the function whole (request-bodies.ts). Groq takes 25 MB (free) or 100 MB (dev)
 * by direct upload; larger files here would need an upload to S3 first (docs/speech-to-text.md).
 */
export const MAX_AUDIO_REQUEST_BYTES = MAX_MULTIPART_REQUEST_BYTES;

class AudioTooLargeError extends HttpError {
  constructor() {
    super(
      413,
      'invalid_request_error',
      `The audio file is too large: at most ${MAX_AUDIO_REQUEST_BYTES / (1024 * 1024)} MiB per request ` +
        '(the whole multipart body). Send a shorter recording, or a compressed format such as mp3 or ogg.',
      { code: 'request_too_large', param: 'file' },
    );
  }
}

/**
 * The largest stored file a transcription may name (`url`): Groq's 25 MB for a direct upload. It is
 * read whole into the function's memory, measured, and sent to the model.
 */
export const MAX_STORED_AUDIO_BYTES = 25 * 1000 * 1000;

type AudioBytes = { name: string; bytes: Uint8Array };

/** The uploaded file, or a 400 naming `file`. */
async function audioFile(form: FormData): Promise<AudioBytes> {
  const value = form.get('file');
  if (value === null || typeof value === 'string') {
    throw new BadRequestError(
      `Missing required parameter: 'file' (an audio file: ${ACCEPTED_FORMATS}), or 'url' naming ` +
        'one of your files of purpose user_data (for files above 4 MiB, uploaded with /v1/uploads).',
      { param: 'file', code: 'missing_required_parameter' },
    );
  }
  return { name: value.name, bytes: new Uint8Array(await value.arrayBuffer()) };
}

/**
 * The caller's stored file that `url` names: 404 for no such file (another organization's or
 * project's included),
 * 400 for one of another purpose, 413 above {@link MAX_STORED_AUDIO_BYTES}.
 */
async function storedAudio(
  deps: ApiDependencies,
  scope: ProjectScope,
  fileId: string,
  form: FormData,
): Promise<AudioBytes> {
  const invalid = (message: string) =>
    new BadRequestError(message, { param: 'url', code: 'invalid_value' });
  if (form.get('file') !== null) throw invalid("Give either 'file' or 'url', not both.");
  if (!deps.files) throw invalid('Stored files are not available in this deployment.');
  const { files } = deps.files;
  // The Files API's 404 names `file_id`; this request named the file in `url`.
  const namingUrl = (error: unknown) => {
    if (!(error instanceof NotFoundError)) return error;
    return new NotFoundError(error.message, { param: 'url', code: error.code ?? undefined });
  };
  const record = await files.get(scope, fileId).catch((error: unknown) => {
    throw namingUrl(error);
  });
  if (record.purpose !== 'user_data') {
    throw invalid(
      `The file ${fileId} has purpose ${record.purpose}: audio to transcribe is uploaded with purpose user_data.`,
    );
  }
  if (record.bytes > MAX_STORED_AUDIO_BYTES) {
    throw new HttpError(
      413,
      'invalid_request_error',
      `The audio file is too large: at most ${MAX_STORED_AUDIO_BYTES} bytes (25 MB); ${fileId} has ${record.bytes}.`,
      { code: 'request_too_large', param: 'url' },
    );
  }
  const bytes = await files.bytes(record).catch((error: unknown) => {
    throw namingUrl(error);
  });
  return { name: record.filename, bytes };
}

/**
 * A transcription that got no text. When the model could not take it (no capacity, or it refused
 * the file) it did not run: the reservation is given back. Otherwise it ran and failed: the
 * seconds count against the limits, and the ledger bills a failure without output nothing.
 */
async function endWithoutTranscript(metered: MeteredRequest, error: unknown, seconds: number) {
  if (
    error instanceof BackendError &&
    (error.kind === 'unavailable' || error.kind === 'bad_request')
  )
    return metered.release();
  return metered.finish({ status: 'failed', inputTokens: seconds, outputTokens: 0 });
}

/** One of the two routes: everything but the task is the same. */
function audioHandler(deps: ApiDependencies, speech: SpeechBackend, task: AudioTask) {
  return async (c: Context<AppEnv>) => {
    const principal = c.get('principal');
    const requestId = c.get('requestId');
    const form = await readMultipartForm(c, 'The audio file', {
      repeatable: ['timestamp_granularities[]'],
      tooLarge: () => new AudioTooLargeError(),
    });
    const request = parseAudioRequest(task, formFields(form));
    const { id: model, model: modelConfig } = resolveSpeechModel(
      deps.config,
      principal.tier,
      request.model,
      task,
    );
    const words = request.timestampGranularities.includes('word');
    const refused = speech.unsupported({
      model,
      task,
      words,
      responseFormat: request.responseFormat,
    });
    if (refused) {
      throw new BadRequestError(refused.message, {
        param: refused.param,
        code: 'unsupported_parameter',
      });
    }
    const file = request.storedFileId
      ? await storedAudio(deps, principal, request.storedFileId, form)
      : await audioFile(form);
    let measured: Awaited<ReturnType<typeof measureAudio>>;
    try {
      measured = await measureAudio(file.bytes);
    } catch (error) {
      // Every answer about a model carries its rate-limit headers (one read).
      for (const [name, value] of Object.entries(await deps.metering.headersFor(principal, model)))
        c.header(name, value);
      // A stored file that is not audio is named by `url`, not `file`.
      if (request.storedFileId && error instanceof BadRequestError && error.param === 'file') {
        throw new BadRequestError(
          error.message.replace('audio file', `stored file ${request.storedFileId}`),
          {
            param: 'url',
            code: error.code ?? 'invalid_file',
          },
        );
      }
      throw error;
    }
    const seconds = billedSeconds(modelConfig, measured.seconds);
    // The file's seconds, known before the model runs: counted and reserved exactly, as a chat
    // request's prompt is, with no output to reserve.
    const metered = await deps.metering.admit({
      requestId,
      principal: c.get('principal'),
      model,
      inputTokens: seconds,
      outputTokens: { fixed: 0 },
    });
    for (const [name, value] of Object.entries(metered.headers)) c.header(name, value);

    let transcript: Transcript;
    try {
      transcript = await speech.transcribe({
        model,
        task,
        file: { ...file, format: measured.format },
        seconds: measured.seconds,
        language: request.language,
        prompt: request.prompt,
        temperature: request.temperature,
        words,
        signal: deps.shutdownSignal,
      });
    } catch (error) {
      await endWithoutTranscript(metered, error, seconds);
      throw backendFailureToHttp(error, requestId);
    }
    await metered.finish({
      status: c.req.raw.signal.aborted ? 'client_disconnected' : 'completed',
      inputTokens: seconds,
      outputTokens: 0,
    });
    const answer = audioAnswer(request, transcript, measured.seconds, seconds, requestId);
    if (answer.kind === 'json') return c.json(answer.body);
    c.header('content-type', answer.contentType);
    return c.body(answer.body);
  };
}

/** `POST /audio/transcriptions` and `POST /audio/translations` (multipart/form-data). */
export function audioRoutes(deps: ApiDependencies, speech: SpeechBackend): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.post('/audio/transcriptions', audioHandler(deps, speech, 'transcribe'));
  routes.post('/audio/translations', audioHandler(deps, speech, 'translate'));
  return routes;
}
