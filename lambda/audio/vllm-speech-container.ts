/**
 * What the Whisper endpoint's container and the speech backend agree on (vLLM's SageMaker image,
 * vLLM 0.31.0): shared by the CDK construct that sets the containers' environments and the backend
 * that invokes them.
 */

/**
 * The transcription component's `/invocations` is vLLM's transcription route: the model's
 * `CUSTOM_FASTAPI_INVOCATION_HANDLER` names it (a Python module path, as
 * aws/model-hosting-container-standards' "Customize Handlers" guide allows), and the standards
 * library mounts the named function as the `/invocations` route itself (`_swap_or_add_route` in
 * its early `sagemaker_router.py`, later `_replace_route`; at its June 2026 head `mount_handlers`
 * of `common/fastapi/routing.py`, `router.add_api_route(path, handler)`), so FastAPI reads the
 * body as that route's form: multipart/form-data,
 * vLLM's `TranscriptionRequest`. vLLM 0.11.2 had the route in `vllm/entrypoints/openai/api_server.py`;
 * in vLLM 0.31.0 it is `create_transcriptions` of
 * `vllm/entrypoints/speech_to_text/transcription/api_router.py` (`POST /v1/audio/transcriptions`,
 * `request: Annotated[TranscriptionRequest, Form()]`), so the old path no longer resolves.
 */
export const TRANSCRIPTION_HANDLER =
  'vllm.entrypoints.speech_to_text.transcription.api_router:create_transcriptions';

/**
 * The translation component's `/invocations`: vLLM 0.31.0's `create_translations` of
 * `vllm/entrypoints/speech_to_text/translation/api_router.py` (`POST /v1/audio/translations`,
 * `request: Annotated[TranslationRequest, Form()]`). The
 * standards resolve ONE invocation handler per container (environment variable, then decorator,
 * then function discovery, then the framework's default; no header or CustomAttributes picks
 * between two), so a model that translates runs a second component whose model names this one.
 */
export const TRANSLATION_HANDLER =
  'vllm.entrypoints.speech_to_text.translation.api_router:create_translations';

/**
 * The `response_format` asked of vLLM 0.31.0: `_create_speech_to_text` of
 * `vllm/entrypoints/speech_to_text/base/serving.py` answers `text`, `json`, `verbose_json` and
 * `diarized_json` (others, `srt` and `vtt` included, are an error), and for `verbose_json` of a
 * model with `supports_segment_timestamp` (Whisper: `models/whisper.py`) it answers `text`,
 * `language`, `duration` and `segments` (`_get_verbose_segments`, from Whisper's timestamp
 * tokens), for transcriptions and translations alike. Every format we serve is written from that
 * (transcript-formats.ts), so this is the one asked. vLLM 0.11.2 refused it (json/text only).
 */
export const VLLM_RESPONSE_FORMAT = 'verbose_json';

/**
 * InvokeEndpoint takes at most 6 MB of body (SageMaker real-time inference: "Maximum payload size
 * 6 MB"); a larger request is refused by SageMaker with a 413, never reaching the container.
 */
export const MAX_INVOKE_BODY_BYTES = 6 * 1024 * 1024;
