import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { BackendError } from '../inference/backends/model-backend';
import { toBackendError, upstreamMessage } from '../inference/backends/sagemaker-backend';
import { endpointName, inferenceComponentName } from '../inference/backends/sagemaker-names';
import type { TranscriptionSegment } from '../openai/shapes/audio';
import { awsClientOptions } from '../storage/aws-clients';
import { languageName } from './languages';
import type {
  SpeechBackend,
  SpeechRequest,
  Transcript,
  UnsupportedSpeechRequest,
} from './speech-backend';
import { MAX_INVOKE_BODY_BYTES } from './vllm-speech-container';

/** What vLLM's Whisper falls back to when a request names no language (it does not detect one). */
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
 * the body the multipart form of vLLM's `/v1/audio/transcriptions`, always asking `verbose_json`
 * (the segments and their times), from which the route writes every format the client may ask.
 */
export class SageMakerTranscriber implements SpeechBackend {
  private readonly client: SageMakerRuntimeClient;
  private readonly env: string;

  constructor(props: SageMakerTranscriberProps) {
    this.client = props.client ?? defaultClient();
    this.env = props.env;
  }

  unsupported(request: Pick<SpeechRequest, 'model' | 'task' | 'words'>) {
    return unsupportedOnVllm(request);
  }

  async transcribe(request: SpeechRequest): Promise<Transcript> {
    const refused = unsupportedOnVllm(request);
    if (refused) throw new BackendError('bad_request', refused.message);
    const { body, contentType } = await transcriptionForm(request);
    if (body.byteLength > MAX_INVOKE_BODY_BYTES) {
      throw new BackendError(
        'bad_request',
        `The audio file is too large for the model: at most ${MAX_INVOKE_BODY_BYTES} bytes per invocation.`,
      );
    }
    let answer: Uint8Array | undefined;
    try {
      const response = await this.client.send(
        new InvokeEndpointCommand({
          EndpointName: endpointName(this.env, request.model),
          InferenceComponentName: inferenceComponentName(this.env, request.model),
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

/**
 * What vLLM's Whisper route cannot do: word timestamps (its `verbose_json` has segments only, cut
 * at Whisper's timestamp tokens) and translations (the endpoint's `/invocations` is the
 * transcription route; one handler per container).
 */
export function unsupportedOnVllm(
  request: Pick<SpeechRequest, 'model' | 'task' | 'words'>,
): UnsupportedSpeechRequest | undefined {
  if (request.task === 'translate') {
    return {
      message: `Translations of \`${request.model}\` are not served in this deployment: its endpoint transcribes only. Use /v1/audio/transcriptions.`,
      param: 'model',
    };
  }
  if (request.words) {
    return {
      message: `Word timestamps are not available for \`${request.model}\` in this deployment: ask 'timestamp_granularities[]' segment.`,
      param: 'timestamp_granularities[]',
    };
  }
  return undefined;
}

/** The multipart body vLLM's `TranscriptionRequest` reads, and its content type with the boundary. */
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
  form.set('response_format', 'verbose_json');
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
  return { text: document.text.trim(), language, segments, words: [] };
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
