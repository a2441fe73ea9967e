import type Stripe from 'stripe';
import { HttpError } from '../openai/errors';
import { type BillingService, stripeBillingEvent } from './billing-service';

/** What API Gateway's proxy integration hands the webhook function (REST API, payload 1.0). */
export interface WebhookRequest {
  body: string | null;
  isBase64Encoded?: boolean;
  headers: Record<string, string | undefined> | null;
}

export interface WebhookResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const json = (statusCode: number, body: unknown): WebhookResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** Headers are case-insensitive; API Gateway passes them as the client sent them. */
function header(headers: WebhookRequest['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/**
 * One Stripe webhook delivery: the signature checked over the body exactly as it arrived (a parsed
 * and re-serialized body would not match), then the event handled once per event id
 * (billing-service.ts). 200 for a handled, repeated or ignored event; 400 (OpenAI-shaped) for a
 * bad signature or an event about an organization this deployment does not bill, which Stripe
 * shows on the endpoint's page; anything else throws, and Stripe retries it for up to three days.
 */
export async function handleStripeWebhook(
  request: WebhookRequest,
  deps: { stripe: Stripe; secret: string; service: BillingService },
): Promise<WebhookResponse> {
  const raw = request.isBase64Encoded
    ? Buffer.from(request.body ?? '', 'base64').toString('utf8')
    : (request.body ?? '');
  try {
    const event = stripeBillingEvent(
      deps.stripe,
      raw,
      header(request.headers, 'stripe-signature'),
      deps.secret,
    );
    if (!event) return json(200, { received: true, handled: false });
    const first = await deps.service.handle(event);
    return json(200, { received: true, handled: true, replay: !first });
  } catch (error) {
    if (error instanceof HttpError && error.status < 500) return json(error.status, error.toBody());
    throw error;
  }
}
