import Groq from 'groq-sdk';
import OpenAI, { type ClientOptions } from 'openai';
import type { TierName } from '../../lib/config/schema';
import type { LocalMode } from '../../local/local-mode';

/**
 * What the end-to-end tests hold against a running local mode: its demo customers' keys and the
 * official clients pointed at it. Every client sends through `fetch` (the test's spec-checked one)
 * and never retries, so each test sees every answer the server gave.
 */
export interface LocalClients {
  /** Each demo customer's key, by tier. */
  keys: Record<TierName, string>;
  /** An `openai` client with this key (`/v1` at local mode). */
  openai(apiKey: string, options?: ClientOptions): OpenAI;
  /**
   * An `openai` client that sends the same key on the administration calls (`adminAPIKey`) as on
   * the others, so a test shows what the server does with that key everywhere.
   */
  admin(apiKey: string, options?: ClientOptions): OpenAI;
  /** A `groq-sdk` client with this key (it adds `/openai/v1` itself). */
  groq(apiKey: string): Groq;
  /**
   * A new organization made by the operator: its primary (inference) key and an admin key, each
   * with its `admin` client. The e-mail is `<name>@<domain>`.
   */
  newOrganization(
    name: string,
    domain: string,
    tier?: TierName,
  ): Promise<{
    customerId: string;
    primary: OpenAI;
    admin: OpenAI;
    adminKey: { id: string; key: string };
  }>;
  /** A project key (`permissions: 'all'`) made with an admin client, and its `admin` client. */
  projectKey(admin: OpenAI, projectId: string, name?: string): Promise<OpenAI>;
}

export function localClients(local: LocalMode, fetch: typeof globalThis.fetch): LocalClients {
  const keys = Object.fromEntries(local.demoCustomers.map((d) => [d.tier, d.apiKey])) as Record<
    TierName,
    string
  >;
  const openai = (apiKey: string, options: ClientOptions = {}) =>
    new OpenAI({ apiKey, baseURL: local.openAIBaseUrl, maxRetries: 0, fetch, ...options });
  const admin = (apiKey: string, options: ClientOptions = {}) =>
    openai(apiKey, { adminAPIKey: apiKey, ...options });
  return {
    keys,
    openai,
    admin,
    groq: (apiKey) => new Groq({ apiKey, baseURL: local.url, maxRetries: 0, fetch }),
    async newOrganization(name, domain, tier = 'developer') {
      const { customer, apiKey } = await local.operator.createCustomer({
        name,
        email: `${name}@${domain}`,
        tier,
      });
      const adminKey = await local.operator.createAdminKey(customer.customerId, 'ops');
      return {
        customerId: customer.customerId,
        primary: admin(apiKey as string),
        admin: admin(adminKey.key),
        adminKey,
      };
    },
    async projectKey(owner, projectId, name = 'worker') {
      const made: { key: string } = await owner.post('/keys', {
        body: { name, permissions: 'all' },
        headers: { 'OpenAI-Project': projectId },
      });
      return admin(made.key);
    },
  };
}
