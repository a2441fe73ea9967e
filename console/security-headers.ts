/**
 * The console's security headers: the same values in AWS (a CloudFront response headers policy) and
 * in local mode (the Node server). The API is same-origin, so `connect-src 'self'` is all it needs;
 * no inline script anywhere (the build emits external files only); uPlot and Preact set styles
 * through the CSSOM, which `style-src 'self'` allows.
 */
export function contentSecurityPolicy(connectSources: string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    ["connect-src 'self'", ...connectSources].join(' '),
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Local mode's: its user pool is relayed under the console's origin. In AWS the console also
 * calls the pool's own endpoint (`https://cognito-idp.<region>.amazonaws.com`) for sign-in.
 */
export const CONTENT_SECURITY_POLICY = contentSecurityPolicy();

/** Two years, as the HSTS preload list asks. */
export const HSTS_MAX_AGE_SECONDS = 63_072_000;

export const CONSOLE_SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'strict-transport-security': `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};
