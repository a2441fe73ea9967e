// It lives with the composition root, which reads the functions' environment; imported from here
// by the handlers and routes that read one variable themselves.
export { requiredEnv } from '../composition/environment';
