/**
 * What the Whisper endpoint's container and the speech backend agree on (vLLM's SageMaker image):
 * shared by the CDK construct that sets the container's environment and the backend that invokes it.
 */

/**
 * The container's `/invocations` is vLLM's transcription route: the endpoint's
 * `CUSTOM_FASTAPI_INVOCATION_HANDLER` names it (a Python module path, as
 * aws/model-hosting-container-standards' "Customize Handlers" guide allows), and the standards
 * library mounts the named function as the `/invocations` route itself (`_swap_or_add_route` in
 * its `sagemaker_router.py`), so FastAPI reads the body as that route's form: multipart/form-data,
 * vLLM's `TranscriptionRequest`. In vLLM 0.11 the route is `create_transcriptions` of
 * `vllm/entrypoints/openai/api_server.py`.
 */
export const TRANSCRIPTION_HANDLER = 'vllm.entrypoints.openai.api_server:create_transcriptions';

/**
 * InvokeEndpoint takes at most 6 MB of body (SageMaker real-time inference: "Maximum payload size
 * 6 MB"); a larger request is refused by SageMaker with a 413, never reaching the container.
 */
export const MAX_INVOKE_BODY_BYTES = 6 * 1024 * 1024;
