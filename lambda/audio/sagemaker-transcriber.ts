import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { BackendError } from '../inference/backends/model-backend';
import { toBackendError, upstreamMessage } from '../inference/backends/sagemaker-backend';
import {
  endpointName,
  inferenceComponentName,
  translationComponentName,
} from '../inference/backends/sagemaker-names';
import type { TranscriptionSegment } from '../openai/shapes/audio';
import { awsClientOptions } from '../storage/aws-clients';
import { type AudioPiece, audioPieces } from './audio-pieces';
import { languageName } from './languages';
import type {
  SpeechBackend,
  SpeechRequest,
  Transcript,
  UnsupportedSpeechRequest,
} from './speech-backend';
import type { AudioResponseFormat } from './transcription-request';
import { MAX_INVOKE_BODY_BYTES, VLLM_RESPONSE_FORMAT } from './vllm-speech-container';

/** Room for the form's other fields and its boundaries around the file. */
const FORM_FRAMING_BYTES = 16 * 1024;

/** What a transcript says when vLLM's answer names no language (vLLM 0.31.0's Whisper detects one). */
const VLLM_DEFAULT_LANGUAGE = 'en';

export interface SageMakerTranscriberProps {
  /** @default one client per module, created on first use */
  readonly client?: SageMakerRuntimeClient;
  /** Deployment environment, part of the endpoint's name. */
  readonly env: string;
}

let sharedClient: SageMakerRuntimeClient | undefined;
function defaultClient(): SageMakerRuntimeClient {
  sharedClient ??= new SageMakerRuntimeClient(awsClientOptions('sagemakerRuntime'));
  return sharedClient;
}

/**
 * Whisper on its SageMaker endpoint (vLLM's SageMaker container): one InvokeEndpoint per request,
 * at the transcription component or, for a translation, the translation component (whose
 * `/invocations` is vLLM's translation route), the body the multipart form both routes read,
 * asking `verbose_json` (vLLM 0.31.0's text, language and timed segments: `VLLM_RESPONSE_FORMAT`),
 * from which every format is written.
 */
export class SageMakerTranscriber implements SpeechBackend {
  private readonly client: SageMakerRuntimeClient;
  private readonly env: string;

  constructor(props: SageMakerTranscriberProps) {
    this.client = props.client ?? defaultClient();
    this.env = props.env;
  }

  unsupported(request: UnsupportedQuestion) {
    return unsupportedOnVllm(request);
  }

  /**
   * One invocation for a file whose form fits InvokeEndpoint's 6 MB; a larger one (a stored file)
   * is cut into pieces that fit (WAV and MP3: audio-pieces.ts), transcribed side by side, and its
   * segments put back on the whole file's clock. Other formats that large: 400.
   */
  async transcribe(request: SpeechRequest): Promise<Transcript> {
    // The route asked `unsupported` first; the format is the route's to write, the words are not.
    if (request.words) throw new BackendError('bad_request', wordsRefused(request.model).message);
    if (request.file.bytes.byteLength + FORM_FRAMING_BYTES <= MAX_INVOKE_BODY_BYTES)
      return this.invoke(request);
    const pieces = audioPieces(
      request.file.bytes,
      request.file.format,
      MAX_INVOKE_BODY_BYTES - FORM_FRAMING_BYTES,
    );
    if (!pieces) {
      throw new BackendError(
        'bad_request',
        `A ${request.file.format} file above ${MAX_INVOKE_BODY_BYTES - FORM_FRAMING_BYTES} bytes cannot be sent to the model: ` +
          'send it as wav or mp3 (cut into pieces here), or compress it below that size.',
      );
    }
    const transcripts = await Promise.all(
      pieces.map((piece) =>
        this.invoke({ ...request, file: { ...request.file, bytes: piece.bytes } }),
      ),
    );
    return joinedTranscript(transcripts, pieces);
  }

  private async invoke(request: SpeechRequest): Promise<Transcript> {
    const { body, contentType } = await transcriptionForm(request);
    let answer: Uint8Array | undefined;
    try {
      const response = await this.client.send(
        new InvokeEndpointCommand({
          EndpointName: endpointName(this.env, request.model),
          InferenceComponentName:
            request.task === 'translate'
              ? translationComponentName(this.env, request.model)
              : inferenceComponentName(this.env, request.model),
          ContentType: contentType,
          Accept: 'application/json',
          Body: body,
        }),
        { abortSignal: request.signal },
      );
      answer = response.Body;
    } catch (error) {
      throw toBackendError(error, request);
    }
    return transcriptOf(answer, request);
  }
}

/** The pieces' transcripts as one: segments shifted to where each piece starts, numbered again. */
function joinedTranscript(transcripts: Transcript[], pieces: AudioPiece[]): Transcript {
  const segments = transcripts.flatMap((transcript, i) => {
    const offset = pieces[i]?.startSeconds ?? 0;
    return transcript.segments.map((segment) => ({
      ...segment,
      start: segment.start + offset,
      end: segment.end + offset,
      seek: segment.seek + Math.round(offset * 100),
    }));
  });
  return {
    text: transcripts
      .map((transcript) => transcript.text)
      .filter((text) => text !== '')
      .join(' '),
    language: transcripts[0]?.language ?? 'english',
    segments: segments.map((segment, id) => ({ ...segment, id })),
    words: [],
  };
}

type UnsupportedQuestion = Pick<SpeechRequest, 'model' | 'task' | 'words'> & {
  responseFormat: AudioResponseFormat;
};

/**
 * What vLLM 0.31.0's Whisper routes cannot do (checked against its source, the `vllm-0.31.0`
 * release): word times. `TranscriptionRequest.timestamp_granularities` in
 * `vllm/entrypoints/speech_to_text/transcription/protocol.py` is parsed, but nothing in vLLM reads
 * it (no word is timed, `words` stays unset), and `TranslationRequest` has no such field. Segment
 * times it gives (`verbose_json`), so `verbose_json`, `srt` and `vtt` are written from them. A
 * translation of a model that translates is served (its own component); one that does not is
 * refused before this (speech-models.ts).
 */
export function unsupportedOnVllm(
  request: UnsupportedQuestion,
): UnsupportedSpeechRequest | undefined {
  if (request.words) return wordsRefused(request.model);
  return undefined;
}

function wordsRefused(model: string): UnsupportedSpeechRequest {
  return {
    message: `Word timestamps are not available for \`${model}\` in this deployment: its server (vLLM 0.31.0) times no words. Leave 'timestamp_granularities[]' out.`,
    param: 'timestamp_granularities[]',
  };
}

/**
 * The multipart body vLLM's `TranscriptionRequest` and `TranslationRequest` both read (0.31.0:
 * `file`, `model`, `prompt`, `response_format`, `temperature`, `language`; translations also
 * `seed` and `to_language`, which Whisper's `en` needs no setting of), and its content type with the
 * boundary.
 */
export async function transcriptionForm(
  request: SpeechRequest,
): Promise<{ body: Uint8Array; contentType: string }> {
  const form = new FormData();
  const { format, bytes } = request.file;
  form.set(
    'file',
    new Blob([new Uint8Array(bytes)], { type: `audio/${format}` }),
    `audio.${format}`,
  );
  // No `model`: vLLM serves the request with its one model when none is named.
  form.set('response_format', VLLM_RESPONSE_FORMAT);
  form.set('temperature', String(request.temperature));
  if (request.language) form.set('language', request.language);
  if (request.prompt) form.set('prompt', request.prompt);
  // The same serialisation fetch would send (a random boundary, CRLF line ends).
  const serialised = new Response(form);
  const contentType = serialised.headers.get('content-type') ?? '';
  return { body: new Uint8Array(await serialised.arrayBuffer()), contentType };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const numberOr = (value: unknown, fallback: number) =>
  typeof value === 'number' && Number.isFinite(value) ? value : fallback;

/** vLLM's `verbose_json` as our transcript; an error document or a malformed answer is a model error. */
export function transcriptOf(raw: Uint8Array | undefined, request: SpeechRequest): Transcript {
  const text = new TextDecoder().decode(raw ?? new Uint8Array());
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new BackendError('model_error', `Model ${request.model} returned invalid JSON.`);
  }
  if (!isRecord(document) || typeof document.text !== 'string') {
    const detail = isRecord(document) && document.error ? `: ${upstreamMessage(document)}` : '.';
    throw new BackendError('model_error', `Model ${request.model} returned no transcript${detail}`);
  }
  const rawSegments = Array.isArray(document.segments) ? document.segments : [];
  const segments = rawSegments.filter(isRecord).map((segment, i) => segmentOf(segment, i));
  const language = languageName(
    typeof document.language === 'string' ? document.language : request.language,
    languageName(VLLM_DEFAULT_LANGUAGE, 'english'),
  );
  // vLLM 0.31.0 joins segment texts that each begin with a space by another space: one is kept.
  const spokenText = document.text.replace(/ {2,}/g, ' ').trim();
  return { text: spokenText, language, segments, words: [] };
}

/**
 * One of vLLM's segments in OpenAI's shape. vLLM leaves `avg_logprob`, `compression_ratio` and
 * `no_speech_prob` unset (its `_get_verbose_segments`): 0 here, as the shape has no null. Its
 * `seek` is the 30 s window's start in seconds; OpenAI's is in 10 ms frames.
 */
function segmentOf(segment: Record<string, unknown>, index: number): TranscriptionSegment {
  const tokens = Array.isArray(segment.tokens)
    ? segment.tokens.filter((token): token is number => Number.isInteger(token))
    : [];
  return {
    id: Number.isInteger(segment.id) ? (segment.id as number) : index,
    seek: Math.round(numberOr(segment.seek, 0) * 100),
    start: numberOr(segment.start, 0),
    end: numberOr(segment.end, 0),
    text: typeof segment.text === 'string' ? segment.text : '',
    tokens,
    temperature: numberOr(segment.temperature, 0),
    avg_logprob: numberOr(segment.avg_logprob, 0),
    compression_ratio: numberOr(segment.compression_ratio, 0),
    no_speech_prob: numberOr(segment.no_speech_prob, 0),
  };
}
