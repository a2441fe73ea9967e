/**
 * What the Whisper endpoint's container and the speech backend agree on (vLLM's SageMaker image,
 * vLLM 0.11.2): shared by the CDK construct that sets the containers' environments and the backend
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
 * vLLM's `TranscriptionRequest`. In vLLM 0.11.2 the route is `create_transcriptions` of
 * `vllm/entrypoints/openai/api_server.py` (`POST /v1/audio/transcriptions`).
 */
export const TRANSCRIPTION_HANDLER = 'vllm.entrypoints.openai.api_server:create_transcriptions';

/**
 * The translation component's `/invocations`: vLLM 0.11.2's `create_translations` of the same
 * file (`POST /v1/audio/translations`, `request: Annotated[TranslationRequest, Form()]`). The
 * standards resolve ONE invocation handler per container (environment variable, then decorator,
 * then function discovery, then the framework's default; no header or CustomAttributes picks
 * between two), so a model that translates runs a second component whose model names this one.
 */
export const TRANSLATION_HANDLER = 'vllm.entrypoints.openai.api_server:create_translations';

/**
 * The `response_format`s vLLM 0.11.2 answers: `_create_speech_to_text` of
 * `vllm/entrypoints/openai/speech_to_text.py` returns the error "Currently only support
 * response_format `text` or `json`" for any other (`verbose_json` included, though its
 * `AudioResponseFormat` type lists it), and its answer is `{"text": ...}` only: no segments, no
 * language, no duration. Segments (`verbose_json`, `_get_verbose_segments`) came with vLLM 0.12.0.
 */
export const VLLM_RESPONSE_FORMAT = 'json';

/**
 * InvokeEndpoint takes at most 6 MB of body (SageMaker real-time inference: "Maximum payload size
 * 6 MB"); a larger request is refused by SageMaker with a 413, never reaching the container.
 */
export const MAX_INVOKE_BODY_BYTES = 6 * 1024 * 1024;
