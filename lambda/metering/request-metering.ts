import type { ModelLimits, SpeechOffer, TierlineConfig } from '../../lib/config/schema';
import type { Principal } from '../customers/authenticate';
import {
  holdsProjectSpend,
  narrowLimits,
  narrowsAny,
  projectScope,
} from '../customers/project-limits';
import { HttpError } from '../openai/errors';
import { ownValue } from '../own';
import type { DocumentClient } from '../storage/document-client';
import { AggregateUpdater } from './aggregate-updates';
import { type DeadLetterSink, type LedgerRecord, LedgerWriter, ledgerRecord } from './ledger';
import { Limiter, type OutputTokens, type Reservation } from './limiter';
import {
  costMicroUsd,
  formatUsd,
  pricesOf,
  type RequestOutcome,
  type TokenPrices,
} from './pricing';
import {
  type LimitCounters,
  type LimitRefusal,
  NO_USAGE,
  rateLimitHeaders,
  rateLimitMessage,
  refusalFor,
  requestTooLargeMessage,
  tightestLimit,
  utcWindows,
} from './rate-limits';
import { ReservationReconciler } from './reconciler';
import {
  MAX_REQUEST_MS,
  newHoldId,
  RECONCILE_MARGIN_MS,
  ReservationBook,
  type ReservationRecord,
} from './reservations';
import { type SpendAlertPublisher, type SpendReservation, SpendTracker, utcMonth } from './spend';
import { type SpendAlertMailer, SpendAlertRules } from './spend-alert-rules';
import { effectiveSpendLimitMicroUsd } from './spend-limit-settings';
import { UsageAggregates } from './usage-aggregates';

/**
 * A request without max_completion_tokens may use what is left of the minute and the day, but at
 * least this much (or the model's maximum, if lower): below it the client gets a 429 to retry, not
 * a truncated answer.
 */
export const MIN_DEFAULT_OUTPUT_TOKENS = 1_024;

/**
 * The least output a request without max_completion_tokens is admitted with: {@link
 * MIN_DEFAULT_OUTPUT_TOKENS}, or less when the limits could never hold that much beside the prompt
 * (a custom plan with a small TPM), so that the 429 it gets is one that an empty minute always
 * ends.
 */
export function minimumDefaultOutput(
  limits: ModelLimits,
  inputTokens: number,
  upTo: number,
): number {
  return Math.max(
    1,
    Math.min(upTo, MIN_DEFAULT_OUTPUT_TOKENS, limits.tpm - inputTokens, limits.tpd - inputTokens),
  );
}

/** What the API knows of a request when it asks to run it. */
export interface MeteringRequest {
  requestId: string;
  principal: Principal;
  /** The public model id called: a base model, or a fine-tune (the ledger names it). */
  model: string;
  /**
   * A fine-tuned model's base: its limits apply (and its counters count: adapters share their base
   * model's limits), its prices with the tier's fine-tuning premium. Absent for a base model.
   */
  fineTune?: { baseModel: string; premiumPercent: number };
  inputTokens: number;
  outputTokens: OutputTokens;
}

/** How a request that reached the model ended, with the tokens it used (as far as they are known). */
export interface MeteringOutcome {
  status: RequestOutcome;
  inputTokens: number;
  outputTokens: number;
}

/** An admitted request: what the model may generate, the headers to send, and the hook that bills it. */
export interface MeteredRequest {
  /** Cap for the model's `max_tokens`: admitted usage can never pass a token limit. */
  outputAllowance: number;
  headers: Record<string, string>;
  /** The headers of a response sent after the request used `usedTokens` in all (input + output). */
  headersAfter(usedTokens: number): Record<string, string>;
  /** Once, when the request is over: settles counters and spend and writes the ledger. Never throws. */
  finish(outcome: MeteringOutcome): Promise<void>;
  /** Once, instead of `finish`, when the model was never called (it could not serve): nothing is billed. */
  release(): Promise<void>;
  /**
   * The request's maximum duration from its admission: the route cuts the model call there and
   * bills what was sent, well before the reconciler (at this + its margin) would release the
   * request as never run.
   */
  maxDurationMs?: number;
}

export interface RequestMeteringDependencies {
  config: TierlineConfig;
  limiter: Limiter;
  spend: SpendTracker;
  ledger: Pick<LedgerWriter, 'write' | 'get'>;
  /** A request's maximum duration. @default {@link MAX_REQUEST_MS} */
  maxRequestMs?: number;
  /** How long past its maximum duration the reconciler leaves a request alone. @default {@link RECONCILE_MARGIN_MS} */
  reconcileMarginMs?: number;
  now?: () => Date;
  logError?: (message: string, details: Record<string, unknown>) => void;
}

/**
 * Metering of one request from admission to the ledger, on DynamoDB, in the orders of
 * crash-safety.ts: before the model, ONE conditional UpdateItem admits the request, reserves its
 * tokens and writes its reservation record, then, for a paying tier, one reserves its maximum cost
 * (rule 2); after it, one conditional PutItem writes the ledger record, one UpdateItem commits the
 * cost (publishing 50/75/90% alerts once each) and one settles the counters (rule 4). No reads on
 * the way of an admitted request: the authorizer's context carries tier, limits and spend limit.
 */
export class RequestMetering {
  private readonly now: () => Date;

  constructor(private readonly deps: RequestMeteringDependencies) {
    this.now = deps.now ?? (() => new Date());
  }

  limitsOf(principal: Principal, model: string): ModelLimits {
    // A speech model's limits are in audio seconds: a customer's custom limits (in tokens) never
    // apply to it.
    const speech = ownValue(this.deps.config.tiers[principal.tier].speechToText, model);
    if (speech) return speechLimits(speech);
    const custom = ownValue(principal.customModelLimits, model);
    const offer = ownValue(this.deps.config.tiers[principal.tier].models, model);
    if (custom) return custom;
    if (!offer) throw new Error(`model ${model} is not offered on ${principal.tier}`); // resolved before metering
    return offer;
  }

  private marginMs(): number {
    return this.deps.reconcileMarginMs ?? RECONCILE_MARGIN_MS;
  }

  pricesOf(principal: Principal, model: string): TokenPrices {
    const speech = ownValue(this.deps.config.tiers[principal.tier].speechToText, model);
    if (speech) return audioSecondPrices(speech.usdPerHour);
    const offer = ownValue(this.deps.config.tiers[principal.tier].models, model);
    if (!offer) throw new Error(`model ${model} is not offered on ${principal.tier}`);
    return pricesOf(offer);
  }

  /** A fine-tuned model's prices: its base model's on the caller's tier, plus the tier's premium. */
  fineTunedPricesOf(principal: Principal, baseModel: string, premiumPercent: number): TokenPrices {
    const offer = ownValue(this.deps.config.tiers[principal.tier].models, baseModel);
    if (!offer) throw new Error(`model ${baseModel} is not offered on ${principal.tier}`);
    return pricesOf(offer, premiumPercent);
  }

  /** The six `x-ratelimit-*` headers for a request that was not admitted for another reason (one GetItem). */
  async headersFor(principal: Principal, model: string): Promise<Record<string, string>> {
    const limits = this.limitsOf(principal, model);
    const counters = await this.deps.limiter.peek({
      customerId: principal.customerId,
      model,
      limits,
    });
    return rateLimitHeaders(limits, counters, this.now().getTime());
  }

  /**
   * Counts a request that uses no model (`POST /responses/input_tokens`) against the model's RPM and
   * RPD, and the project's where it has limits of its own: one conditional UpdateItem per counter
   * item, as an admission, with no tokens, no hold, no record and no spend (nothing to settle, so
   * a crash after it leaves nothing behind). Returns the headers to send; throws the 429 with them
   * when a request limit is spent.
   */
  async countRequest(principal: Principal, model: string): Promise<Record<string, string>> {
    const organization = this.limitsOf(principal, model);
    const own = ownValue(principal.projectModelLimits, model);
    const project = narrowsAny(organization, own) ? narrowLimits(organization, own) : undefined;
    const at = this.now();
    const count = async (customerId: string, limits: ModelLimits) => {
      const admission = await this.deps.limiter.admit({
        customerId,
        model,
        limits,
        inputTokens: 0,
        outputTokens: { fixed: 0 },
        atMs: at.getTime(),
      });
      if (admission.admitted) return admission;
      // Without tokens only a request limit refuses, never as `request_too_large`.
      const counters = 'counters' in admission ? admission.counters : NO_USAGE;
      const refusal =
        'retryAfterMs' in admission ? admission : tightestLimit(limits, counters, 0, at.getTime());
      throw this.rateLimited(model, principal, limits, counters, refusal, at);
    };
    const counted = await count(principal.customerId, organization);
    if (!project) return rateLimitHeaders(organization, counted.counters, at.getTime());
    try {
      const own = await count(`${principal.customerId}@${principal.projectId}`, project);
      return rateLimitHeaders(project, own.counters, at.getTime());
    } catch (error) {
      // Refused for the project: not counted for the organization either.
      await this.deps.limiter
        .release(counted.reservation)
        .catch((e) => this.deps.logError?.('release after a project refusal failed', { error: e }));
      if (error instanceof HttpError)
        error.message = `${error.message} This is the limit of project \`${principal.projectId}\`, set by the organization.`;
      throw error;
    }
  }

  /**
   * Admits the request or throws the 429 / 413 the client should see, with its headers: counters
   * first, then spend (crash-safety.ts rule 2); a request refused on the way gives back what it
   * took (rule 6).
   */
  async admit(request: MeteringRequest): Promise<MeteredRequest> {
    const { principal } = request;
    // Limits, counters and headers are the base model's; the ledger names what was called.
    const model = request.fineTune?.baseModel ?? request.model;
    const limits = this.limitsOf(principal, model);
    const prices = request.fineTune
      ? this.fineTunedPricesOf(principal, model, request.fineTune.premiumPercent)
      : this.pricesOf(principal, model);
    const startedAt = this.now();
    const record: ReservationRecord = {
      requestId: request.requestId,
      holdId: newHoldId(),
      customerId: principal.customerId,
      tier: principal.tier,
      model,
      ...(model === request.model ? {} : { calledModel: request.model }),
      day: utcWindows(startedAt.getTime()).day,
      month: utcMonth(startedAt),
      spendHold: this.deps.config.tiers[principal.tier].spendLimit.allowed,
      inputTokens: request.inputTokens,
      prices,
      startedAt: startedAt.toISOString(),
      deadline: new Date(
        startedAt.getTime() + (this.deps.maxRequestMs ?? MAX_REQUEST_MS) + this.marginMs(),
      ).toISOString(),
      projectId: principal.projectId,
      ...(principal.keyId === undefined ? {} : { apiKeyId: principal.keyId }),
      ...(holdsProjectSpend(principal, this.deps.config.tiers[principal.tier].spendLimit.allowed)
        ? { projectSpendHold: true }
        : {}),
    };
    return this.admitHeld(request, limits, prices, startedAt, record);
  }

  private async admitHeld(
    request: MeteringRequest,
    limits: ModelLimits,
    prices: TokenPrices,
    startedAt: Date,
    record: ReservationRecord,
  ): Promise<MeteredRequest> {
    const { principal } = request;
    // The counters' model: a fine-tune's base, whose limits its adapters share (the ledger names
    // what was called).
    const { model } = record;
    // A release that fails leaves its hold to the reconciler (crash-safety.ts rule 6).
    const releaseCounters = (reservation: Reservation, what: string) =>
      this.deps.limiter
        .release(reservation)
        .catch((error) => this.deps.logError?.(what, { error }));
    const admission = await this.deps.limiter.admit({
      customerId: principal.customerId,
      model,
      limits,
      inputTokens: request.inputTokens,
      outputTokens: request.outputTokens,
      record,
      atMs: startedAt.getTime(),
    });
    if (!admission.admitted) {
      if (admission.reason === 'request_too_large') {
        const headers = await this.headersFor(principal, model);
        throw new HttpError(
          413,
          'tokens',
          requestTooLargeMessage(model, principal.customerId, admission, limits.measure),
          {
            code: 'rate_limit_exceeded',
            headers,
          },
        );
      }
      throw this.rateLimited(model, principal, limits, admission.counters, admission, startedAt);
    }
    const reservation: Reservation = { ...admission.reservation };
    const project = await this.admitProject(request, limits, model, startedAt).catch(
      async (error: unknown) => {
        await releaseCounters(reservation, 'release after a project refusal failed');
        throw error;
      },
    );
    // The output may use what both the organization's and the project's counters gave.
    if (project)
      reservation.outputAllowance = Math.min(
        reservation.outputAllowance,
        project.reservation.outputAllowance,
      );
    const releaseProject = () =>
      project && releaseCounters(project.reservation, 'release of a project hold failed');
    if ('upTo' in request.outputTokens) {
      const minimum = minimumDefaultOutput(limits, request.inputTokens, request.outputTokens.upTo);
      if (reservation.outputAllowance < minimum) {
        await releaseCounters(reservation, 'release of a default allowance too small failed');
        await releaseProject();
        const c = admission.counters;
        const before: LimitCounters = {
          requestsToday: c.requestsToday - 1,
          tokensToday: c.tokensToday - reservation.reservedTokens,
          requestsThisMinute: c.requestsThisMinute - 1,
          tokensThisMinute: c.tokensThisMinute - reservation.reservedTokens,
        };
        const reserve = request.inputTokens + minimum;
        const refusal =
          refusalFor(limits, before, reserve, startedAt.getTime()) ??
          tightestLimit(limits, before, reserve, startedAt.getTime());
        throw this.rateLimited(model, principal, limits, before, refusal, startedAt);
      }
    }
    // The headers count what this request used so far (its prompt), not the output it may still
    // generate: a client pacing itself by them must not see its own reservation as spent.
    // A project with limits of its own sees those: they are the ones it meets first.
    const shown = project ?? { limits, counters: admission.counters };
    const counters = withoutOutputReservation(shown.counters, reservation.outputAllowance);
    const headers = rateLimitHeaders(shown.limits, counters, startedAt.getTime());
    const { projectSpend, spendReservation } = await this.reserveSpends(
      request,
      { prices, startedAt, record, reservation, headers },
      async () => {
        await releaseCounters(reservation, 'release after a spend refusal failed');
      },
      async () => {
        await releaseProject();
      },
    );
    const headersAfter = (usedTokens: number) =>
      rateLimitHeaders(
        shown.limits,
        withoutOutputReservation(counters, request.inputTokens - usedTokens),
        startedAt.getTime(),
      );
    return this.meteredRequest(
      request,
      { counters: reservation, project: project?.reservation, projectSpend },
      spendReservation,
      prices,
      record,
      headers,
      headersAfter,
    );
  }

  /**
   * A project with limits of its own narrower than the organization's is admitted a second time,
   * on counters of its own (`<customerId>@<projectId>`), after the organization's: the project's
   * keys together stay within the project's limits, and every project within the organization's.
   * Its hold carries no reservation record: the organization's counter item carries the request's
   * one record, so the reconciler bills a crashed request once; a crashed request's project hold
   * stays counted until its minute and day pass. Throws the 429 (or 413) of the project's limit.
   */
  private async admitProject(
    request: MeteringRequest,
    organization: ModelLimits,
    model: string,
    startedAt: Date,
  ): Promise<
    { reservation: Reservation; counters: LimitCounters; limits: ModelLimits } | undefined
  > {
    const { principal } = request;
    const own = ownValue(principal.projectModelLimits, model);
    if (organization.measure === 'audio_seconds' || !narrowsAny(organization, own))
      return undefined;
    const limits = narrowLimits(organization, own);
    const admission = await this.deps.limiter.admit({
      customerId: `${principal.customerId}@${principal.projectId}`,
      model,
      limits,
      inputTokens: request.inputTokens,
      outputTokens: request.outputTokens,
      holdId: newHoldId(),
      atMs: startedAt.getTime(),
    });
    if (admission.admitted) return { ...admission, limits };
    const where = `project \`${principal.projectId}\``;
    if (admission.reason === 'request_too_large') {
      const message = requestTooLargeMessage(model, principal.customerId, admission, undefined);
      throw new HttpError(413, 'tokens', `${message} (the limit of ${where})`, {
        code: 'rate_limit_exceeded',
      });
    }
    const refused = this.rateLimited(
      model,
      principal,
      limits,
      admission.counters,
      admission,
      startedAt,
    );
    refused.message = `${refused.message} This is the limit of ${where}, set by the organization.`;
    throw refused;
  }

  /**
   * Every request of a paying tier reserves and settles its spend, limit or not: the month's spend
   * is then always known when a limit is set, and the limit on the month item binds at once (see
   * spend.ts). The project's month first, then the organization's: the organization's hold stays
   * the last admission hold, which tells the reconciler the request was admitted (crash-safety.ts
   * rule 2). A refusal of either gives back what the request holds, spend first (rule 6):
   * `releaseCounters` when every spend mark is known gone, `releaseProject` always (the project's
   * counter hold carries no record, so the reconciler would never find it).
   */
  private async reserveSpends(
    request: MeteringRequest,
    held: HeldAdmission,
    releaseCounters: () => Promise<void>,
    releaseProject: () => Promise<void>,
  ): Promise<{ projectSpend?: SpendReservation; spendReservation?: SpendReservation }> {
    const { principal } = request;
    const projectSpend = held.record.projectSpendHold
      ? await this.reserveMonthSpend(
          request,
          projectSpendScope(principal),
          held,
          async (released) => {
            if (released) await releaseCounters();
            await releaseProject();
          },
        )
      : undefined;
    const organization = organizationSpendScope(principal, this.deps.config);
    const spendReservation = held.record.spendHold
      ? await this.reserveMonthSpend(request, organization, held, async (released) => {
          const projectReleased = projectSpend
            ? await this.deps.spend.settle(projectSpend, 0).then(
                () => true,
                (error: unknown) => {
                  this.deps.logError?.('release of project spend failed', { error });
                  return false;
                },
              )
            : true;
          if (released && projectReleased) await releaseCounters();
          await releaseProject();
        })
      : undefined;
    return { projectSpend, spendReservation };
  }

  /**
   * Reserves the request's most expensive outcome against one month's spend, the organization's
   * or a project's (marked with the request's hold id, so the reconciler settles it too). Refuses
   * with 429 `insufficient_quota` over the scope's limit. Before it throws, `giveBack` gives back
   * what the request holds, told whether the spend mark is known gone: a reserve may have applied
   * without its answer arriving, and when settling its mark fails too, the counter hold (and its
   * record, the reconciler's way to this mark) must stay (crash-safety.ts rule 6).
   */
  private async reserveMonthSpend(
    request: MeteringRequest,
    scope: MonthSpendScope,
    held: HeldAdmission,
    giveBack: (spendReleased: boolean) => Promise<void>,
  ): Promise<SpendReservation> {
    const { record, reservation, headers } = held;
    const hold = { holdId: record.holdId, at: held.startedAt };
    const maxCost = costMicroUsd(
      { inputTokens: request.inputTokens, outputTokens: reservation.outputAllowance },
      held.prices,
    );
    let spend: Awaited<ReturnType<SpendTracker['reserve']>>;
    try {
      spend = await this.deps.spend.reserve(scope.id, scope.limitMicroUsd, maxCost, hold);
    } catch (error) {
      // Settling its mark (a no-op if there is none) makes sure it did not apply.
      const mark = { customerId: scope.id, month: record.month, reservedMicroUsd: maxCost };
      const spendReleased = await this.deps.spend.settle({ ...mark, ...hold }, 0).then(
        () => true,
        (settleError: unknown) => {
          this.deps.logError?.('release of spend after a failed reservation failed', {
            error: settleError,
            scope: scope.id,
          });
          return false;
        },
      );
      await giveBack(spendReleased);
      throw error;
    }
    if (!spend.admitted) {
      await giveBack(true);
      // Nothing changes until the limit is raised or the month ends: the clients must not retry.
      throw new HttpError(429, 'insufficient_quota', scope.refusal(spend, maxCost), {
        code: 'insufficient_quota',
        headers: { ...headers, 'x-should-retry': 'false' },
      });
    }
    return spend.reservation;
  }

  private rateLimited(
    model: string,
    principal: Principal,
    limits: ModelLimits,
    counters: LimitCounters,
    refusal: LimitRefusal,
    at: Date,
  ): HttpError {
    const headers = {
      ...rateLimitHeaders(limits, counters, at.getTime()),
      'retry-after': String(Math.max(1, Math.ceil(refusal.retryAfterMs / 1000))),
    };
    const counted = limits.measure === 'audio_seconds' ? 'audio_seconds' : 'tokens';
    const type = refusal.reason === 'rpm' || refusal.reason === 'rpd' ? 'requests' : counted;
    const message = rateLimitMessage(model, principal.customerId, refusal, limits.measure);
    return new HttpError(429, type, message, {
      code: 'rate_limit_exceeded',
      headers,
    });
  }

  private meteredRequest(
    request: MeteringRequest,
    holds: { counters: Reservation; project?: Reservation; projectSpend?: SpendReservation },
    spendReservation: SpendReservation | undefined,
    prices: TokenPrices,
    record: ReservationRecord,
    headers: Record<string, string>,
    headersAfter: (usedTokens: number) => Record<string, string>,
  ): MeteredRequest {
    let done = false;
    const once = (work: () => Promise<void>) => async () => {
      if (done) return;
      done = true;
      try {
        await work();
      } catch (error) {
        // What failed to settle keeps the record: the reconciler finishes it (crash-safety.ts rules
        // 4, 7).
        this.deps.logError?.('metering failed', { requestId: request.requestId, error });
      }
    };
    const thresholds =
      this.deps.config.tiers[request.principal.tier].spendLimit.alertThresholdsPercent;
    // Spend, then the counter hold, which carries the record (crash-safety.ts rules 3, 4).
    const reservation = holds.counters;
    const settleHolds = async (bill: LedgerRecord) => {
      if (spendReservation)
        await this.deps.spend.settle(spendReservation, bill.costMicroUsd, thresholds);
      if (holds.projectSpend) await this.deps.spend.settle(holds.projectSpend, bill.costMicroUsd);
      await this.deps.limiter.settle(reservation, bill.inputTokens + bill.outputTokens);
      if (holds.project)
        await this.deps.limiter.settle(holds.project, bill.inputTokens + bill.outputTokens);
    };
    return {
      outputAllowance: reservation.outputAllowance,
      maxDurationMs: this.deps.maxRequestMs ?? MAX_REQUEST_MS,
      headers,
      headersAfter,
      release: once(async () => {
        // crash-safety.ts rule 6.
        if (spendReservation) await this.deps.spend.settle(spendReservation, 0);
        if (holds.projectSpend) await this.deps.spend.settle(holds.projectSpend, 0);
        await this.deps.limiter.release(reservation);
        if (holds.project) await this.deps.limiter.release(holds.project);
      }),
      finish: (outcome) =>
        once(async () => {
          // Backends report usage; never let a malformed count lose the record.
          const tokens = (n: number) => (Number.isFinite(n) && n > 0 ? Math.round(n) : 0);
          const bill = ledgerRecord({
            requestId: request.requestId,
            customerId: request.principal.customerId,
            model: request.model,
            tier: request.principal.tier,
            inputTokens: tokens(outcome.inputTokens),
            outputTokens: tokens(outcome.outputTokens),
            prices,
            status: outcome.status,
            startedAt: record.startedAt,
            finishedAt: this.now().toISOString(),
            // From the principal the request already carries: no read on the request path.
            projectId: request.principal.projectId,
            ...(request.principal.keyId === undefined ? {} : { apiKeyId: request.principal.keyId }),
          });
          // The ledger first, then the holds (crash-safety.ts rule 4).
          const written = await this.deps.ledger.write(bill);
          // A reconciler billed it already: its record is the bill (crash-safety.ts rule 5).
          const winner =
            written === 'duplicate'
              ? ((await this.deps.ledger.get(request.requestId)) ?? bill)
              : bill;
          await settleHolds(winner);
        })(),
    };
  }
}

/**
 * A speech-to-text offer as the limiter counts it: audio seconds in `tpm` (per hour) and `tpd`, and
 * requests per minute as their hourly equivalent (one counter item keeps one short window).
 */
export function speechLimits(offer: SpeechOffer): ModelLimits {
  return {
    rpm: offer.rpm * 60,
    rpd: offer.rpd,
    tpm: offer.ash,
    tpd: offer.asd,
    measure: 'audio_seconds',
  };
}

/**
 * A price per hour of audio as the ledger holds prices: an audio second is a speech model's "input
 * token", so its price is µ$ per 1M seconds ($0.04/h = 11,111,111 µ$ per 1M s: within 1 µ$ per 1M
 * seconds of exact, and each request is rounded up to the µ$ once, as for tokens).
 */
export function audioSecondPrices(usdPerHour: number): TokenPrices {
  return pricesOf({ inputUsdPerMillion: (usdPerHour * 1_000_000) / 3_600, outputUsdPerMillion: 0 });
}

/** What an admission holds when it reserves its spend. */
interface HeldAdmission {
  prices: TokenPrices;
  startedAt: Date;
  record: ReservationRecord;
  reservation: Reservation;
  headers: Record<string, string>;
}

/** One month's spend a request reserves against: its item's id, its limit, its refusal's words. */
interface MonthSpendScope {
  id: string;
  limitMicroUsd: number | undefined;
  refusal: (spend: { limitMicroUsd: number; spentMicroUsd: number }, maxCost: number) => string;
}

function organizationSpendScope(principal: Principal, config: TierlineConfig): MonthSpendScope {
  return {
    id: principal.customerId,
    limitMicroUsd: effectiveSpendLimitMicroUsd(
      config,
      principal.tier,
      principal.spendLimitMicroUsd,
    ),
    refusal: (spend, maxCost) =>
      `You exceeded your monthly spend limit of $${formatUsd(spend.limitMicroUsd)} ` +
      `(spent $${formatUsd(spend.spentMicroUsd)} this month, $${formatUsd(maxCost)} needed at ` +
      'most for this request). Raise it with PUT /v1/spend_limit (or ask your operator), or wait ' +
      'for the next month (UTC).',
  };
}

/** A project's month, on `<customerId>@<projectId>`, for a project with a limit or alerts. */
function projectSpendScope(principal: Principal): MonthSpendScope {
  return {
    id: projectScope(principal.customerId, principal.projectId),
    limitMicroUsd: principal.projectSpendLimitMicroUsd,
    refusal: (spend, maxCost) =>
      `Project \`${principal.projectId}\` reached its monthly spend limit of ` +
      `$${formatUsd(spend.limitMicroUsd)} (spent $${formatUsd(spend.spentMicroUsd)} this month, ` +
      `$${formatUsd(maxCost)} needed at most for this request). An organization owner can raise ` +
      'it (POST /v1/organization/projects/{project_id}/spend_limit), or wait for the next month (UTC).',
  };
}

/** Counters as if `outputTokens` fewer had been reserved (negative: more), never below zero. */
function withoutOutputReservation(counters: LimitCounters, outputTokens: number): LimitCounters {
  return {
    ...counters,
    tokensThisMinute: Math.max(0, counters.tokensThisMinute - outputTokens),
    tokensToday: Math.max(0, counters.tokensToday - outputTokens),
  };
}

/** Everything metering on one metering table: request metering, monthly spend, usage aggregates. */
export interface MeteringParts {
  metering: RequestMetering;
  /** The ledger writer requests use (with inline aggregation in local mode): batch lines write through it too. */
  ledger: Pick<LedgerWriter, 'write'>;
  /** The same limiter, for reads of its counters (`GET /v1/limits`). */
  limiter: Limiter;
  spend: SpendTracker;
  /** The customers' own spend alerts (`/v1/organization/spend_alerts`). */
  alertRules: SpendAlertRules;
  usage: UsageAggregates;
  /** Keeps the aggregates in step with the ledger (inline in local mode) and repairs them. */
  aggregates: AggregateUpdater;
  /** Bills and releases the reservations of requests whose process died (run it every minute). */
  reconciler: ReservationReconciler;
  /** The due-time index of the counter items holding requests in flight (their reservation records). */
  reservations: ReservationBook;
}

/** Metering on one metering table, with the dead-letter sink and alert publisher of the environment. */
export function createMetering(options: {
  config: TierlineConfig;
  doc: DocumentClient;
  tableName: string;
  deadLetters: DeadLetterSink;
  alerts: SpendAlertPublisher;
  /** Where the customers' own spend alerts are e-mailed (spend-alert-rules.ts). */
  spendAlertMail?: SpendAlertMailer;
  /** Local mode applies each ledger write to the aggregates in-process; AWS does it from the table stream. */
  aggregateInline?: boolean;
  /** A request's maximum duration (when the reconciler may take it over, less the margin). @default 15 min */
  maxRequestMs?: number;
  /** The reconciler's margin past that duration (shortened by the crash test). @default 60 s */
  reconcileMarginMs?: number;
  now?: () => Date;
  logError?: (message: string, details: Record<string, unknown>) => void;
}): MeteringParts {
  const now = options.now ?? (() => new Date());
  const writer = new LedgerWriter(options.doc, options.tableName, options.deadLetters);
  const usage = new UsageAggregates(
    options.doc,
    options.tableName,
    new Set(Object.keys(options.config.speechModels)),
  );
  const alertRules = new SpendAlertRules(
    options.doc,
    options.tableName,
    options.spendAlertMail,
    now,
  );
  // Without a mailer nothing would be sent: no alert is checked (nor its month seeded).
  const spend = new SpendTracker(
    options.doc,
    options.tableName,
    options.alerts,
    now,
    options.spendAlertMail ? alertRules : undefined,
  );
  const aggregates = new AggregateUpdater(options.doc, options.tableName, () => now().getTime());
  const inline = async (record: LedgerRecord) =>
    aggregates
      .apply(record)
      .catch((error: unknown) => options.logError?.('usage aggregation failed', { error }));
  const ledger: Pick<LedgerWriter, 'write' | 'get' | 'put'> = options.aggregateInline
    ? {
        get: (requestId) => writer.get(requestId),
        put: async (record) => {
          const result = await writer.put(record);
          await inline(record);
          return result;
        },
        write: async (record) => {
          const result = await writer.write(record);
          // Also for a duplicate: applying is idempotent, and finishes what a crash may have left
          // half done.
          if (result !== 'dead_lettered') await inline(record);
          return result;
        },
      }
    : writer;
  const limiter = new Limiter(options.doc, options.tableName, { now: () => now().getTime() });
  const reservations = new ReservationBook(options.doc, options.tableName);
  const metering = new RequestMetering({
    config: options.config,
    limiter,
    spend,
    ledger,
    maxRequestMs: options.maxRequestMs,
    reconcileMarginMs: options.reconcileMarginMs,
    now,
    logError: options.logError,
  });
  const reconciler = new ReservationReconciler({ book: reservations, ledger, limiter, spend, now });
  return {
    metering,
    limiter,
    ledger,
    spend,
    alertRules,
    usage,
    aggregates,
    reconciler,
    reservations,
  };
}
