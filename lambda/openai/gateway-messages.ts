/**
 * Messages of the errors API Gateway answers itself. The CDK gateway responses and local mode's
 * emulation of the usage plans use the same text, so a client sees the same error in both.
 */
export const GATEWAY_MESSAGES = {
  invalidApiKey: 'Invalid API Key',
  throttled:
    "Request rate limit of your plan reached at the gateway. Please retry after the number of seconds in the 'retry-after' header.",
  quotaExceeded:
    "Request quota of your plan used up for this period. GET /v1/me shows your plan's quota and period.",
} as const;
