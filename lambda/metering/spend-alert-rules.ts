import { randomBytes } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { compare, conditionOnly, notExists, or, update } from '../storage/expressions';
import { METERING_TABLE } from './metering-table';
import { MICRO_USD_PER_CENT } from './pricing';
import { spendKey, utcMonth } from './spend';

const { partitionKey: PK, sortKey: SK } = METERING_TABLE;

/**
 * OpenAI's spend alerts (`/v1/organization/spend_alerts`, `/v1/organization/projects/{id}/
 * spend_alerts`): a threshold in cents of a month's spend and the addresses to tell when the
 * organization's (or the project's) month passes it. Stored per scope (the organization's id, or
 * `<customerId>@<projectId>` as the project's month is) in one item of the metering table,
 * `SPEND_ALERTS#<scope>` / `SPEND_ALERTS`, written with a version so two changes never lose one.
 *
 * The request path reads none of it: each change also writes the thresholds (id -> µ$) and the
 * version on the month spend items of this month and the next (`alertRules`, `alertRulesVersion`),
 * which every settle already gets back (ALL_NEW). A month item that has no rules yet (the month
 * after next) is seeded once by its first settle, one GetItem in that month. Only a settle that
 * crosses a threshold reads the alert's recipients.
 */

export const MAX_ALERTS_PER_SCOPE = 100;
export const MAX_RECIPIENTS = 10;
const RULES = 'alertRules';
const RULES_VERSION = 'alertRulesVersion';

export interface SpendAlertRule {
  id: string;
  /** Cents. */
  thresholdAmount: number;
  recipients: string[];
  subjectPrefix: string | null;
}

/** What a rule item holds for a scope: its rules by id and the version of its last change. */
interface RulesItem {
  version: number;
  alerts: Record<string, Omit<SpendAlertRule, 'id'>>;
}

/** One alert e-mail, to every recipient of the alert. */
export interface SpendAlertMail {
  alertId: string;
  to: string[];
  subject: string;
  text: string;
}

/** Where alert e-mails go: the mail file in local mode, SES's `SendEmail` input in AWS. */
export interface SpendAlertMailer {
  send(mail: SpendAlertMail): Promise<void>;
}

export type RuleChange =
  | { kind: 'create'; rule: Omit<SpendAlertRule, 'id'> }
  | { kind: 'update'; id: string; rule: Omit<SpendAlertRule, 'id'> }
  | { kind: 'delete'; id: string };

const rulesKey = (scope: string) => ({ [PK]: `SPEND_ALERTS#${scope}`, [SK]: 'SPEND_ALERTS' });
/** The mark of an alert sent this month, per threshold: an alert moved higher fires again. */
const sentAttribute = (id: string, cents: number) => `sentAlert_${id}_${cents}`;
const newAlertId = () => `spend_alert_${Date.now().toString(36)}${randomBytes(8).toString('hex')}`;

const thresholdsOf = (item: RulesItem) =>
  Object.fromEntries(
    Object.entries(item.alerts).map(([id, rule]) => [
      id,
      rule.thresholdAmount * MICRO_USD_PER_CENT,
    ]),
  );

const usd = (microUsd: number) => (microUsd / 1_000_000).toFixed(2);

export class SpendAlertRules {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    private readonly mailer: SpendAlertMailer | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The scope's alerts, oldest first (ids sort by creation time). */
  async list(scope: string): Promise<SpendAlertRule[]> {
    const item = await this.read(scope);
    return Object.entries(item.alerts)
      .map(([id, rule]) => ({ id, ...rule }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async get(scope: string, id: string): Promise<SpendAlertRule | undefined> {
    const { alerts } = await this.read(scope);
    const rule = Object.hasOwn(alerts, id) ? alerts[id] : undefined;
    return rule ? { id, ...rule } : undefined;
  }

  /**
   * Applies one change (read, then a put conditional on the version read: a concurrent change makes
   * it read again), then writes the thresholds on this month's and next month's spend items. A
   * change that crashed between the two is written there by the next change or the next month's
   * seed; answers the rule changed, undefined when the id names none.
   */
  async change(scope: string, change: RuleChange): Promise<SpendAlertRule | undefined> {
    for (;;) {
      const item = await this.read(scope);
      const alerts = { ...item.alerts };
      let changed: SpendAlertRule | undefined;
      if (change.kind === 'create') {
        if (Object.keys(alerts).length >= MAX_ALERTS_PER_SCOPE) return undefined;
        changed = { id: newAlertId(), ...change.rule };
        alerts[changed.id] = change.rule;
      } else {
        const existing = Object.hasOwn(alerts, change.id) ? alerts[change.id] : undefined;
        if (!existing) return undefined;
        if (change.kind === 'update') alerts[change.id] = change.rule;
        else delete alerts[change.id];
        changed = { id: change.id, ...(change.kind === 'update' ? change.rule : existing) };
      }
      const next: RulesItem = { version: item.version + 1, alerts };
      const stored = await applied(
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...rulesKey(scope), ...next },
            ...conditionOnly(
              item.version === 0 ? notExists('version') : compare('version', '=', item.version),
            ),
          }),
        ),
      );
      if (!stored) continue;
      await this.writeOnMonths(scope, next);
      return changed;
    }
  }

  /** How many alerts the scope has (for the limit's message). */
  async count(scope: string): Promise<number> {
    return Object.keys((await this.read(scope)).alerts).length;
  }

  /**
   * Called by every settle with the month item it returned: sends each alert whose threshold the
   * month's committed spend reached and that was not sent this month, once. The mark is one
   * conditional UpdateItem: of concurrent settles past a threshold (or a retried one) only the
   * one whose mark lands sends; a send that fails takes its mark back, so the next settle sends.
   * Answers the ids sent.
   */
  async fire(scope: string, month: string, item: Record<string, unknown>): Promise<string[]> {
    const committed = (item.committedMicroUsd as number | undefined) ?? 0;
    let thresholds = item[RULES] as Record<string, number> | undefined;
    let rules: RulesItem | undefined;
    if (item[RULES_VERSION] === undefined) {
      rules = await this.read(scope);
      await this.writeOn(scope, month, rules);
      thresholds = thresholdsOf(rules);
    }
    const crossed = Object.entries(thresholds ?? {}).filter(
      // A $0 threshold waits for the first spend: "reached $0.00" before any says nothing.
      ([id, micro]) =>
        committed >= micro &&
        committed > 0 &&
        item[sentAttribute(id, micro / MICRO_USD_PER_CENT)] === undefined,
    );
    if (crossed.length === 0 || !this.mailer) return [];
    rules ??= await this.read(scope);
    const sent: string[] = [];
    for (const [id, micro] of crossed) {
      const rule = rules.alerts[id];
      const cents = micro / MICRO_USD_PER_CENT;
      // Deleted or moved since the month item was written: the newer thresholds reach it anyway.
      if (!rule || rule.thresholdAmount !== cents) continue;
      const mark = sentAttribute(id, cents);
      const token = `${this.now().toISOString()}#${randomBytes(6).toString('hex')}`;
      if (!(await this.markSent(scope, month, mark, token))) continue;
      try {
        await this.mailer.send(alertMail(scope, month, { id, ...rule }, committed));
        sent.push(id);
      } catch (error) {
        await this.unmark(scope, month, mark, token).catch(() => undefined);
        throw error;
      }
    }
    return sent;
  }

  private async writeOnMonths(scope: string, rules: RulesItem): Promise<void> {
    const now = this.now();
    const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    for (const month of [utcMonth(now), utcMonth(next)]) await this.writeOn(scope, month, rules);
  }

  /** Puts the rules' thresholds on a month item unless a later version is there already. */
  private async writeOn(scope: string, month: string, rules: RulesItem): Promise<void> {
    await applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: spendKey(scope, month),
          ...update(
            { set: { [RULES]: thresholdsOf(rules), [RULES_VERSION]: rules.version } },
            or(notExists(RULES_VERSION), compare(RULES_VERSION, '<', rules.version)),
          ),
        }),
      ),
    );
  }

  private async read(scope: string): Promise<RulesItem> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: rulesKey(scope), ConsistentRead: true }),
    );
    return {
      version: (Item?.version as number | undefined) ?? 0,
      alerts: (Item?.alerts as RulesItem['alerts'] | undefined) ?? {},
    };
  }

  private async markSent(scope: string, month: string, mark: string, token: string) {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: spendKey(scope, month),
          ...update({ set: { [mark]: token } }, notExists(mark)),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async unmark(scope: string, month: string, mark: string, token: string) {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: spendKey(scope, month),
        ...update({ remove: [mark] }, compare(mark, '=', token)),
      }),
    );
  }
}

/** The e-mail of one alert: whose month, how much was spent, the threshold it passed. */
export function alertMail(
  scope: string,
  month: string,
  rule: SpendAlertRule,
  spentMicroUsd: number,
): SpendAlertMail {
  const [organization, project] = scope.split('@');
  const whose = project
    ? `Project ${project} of organization ${organization}`
    : `Organization ${organization}`;
  const threshold = usd(rule.thresholdAmount * MICRO_USD_PER_CENT);
  return {
    alertId: rule.id,
    to: rule.recipients,
    subject: `${rule.subjectPrefix ? `${rule.subjectPrefix} ` : ''}Tierline spend alert: $${threshold} reached in ${month}`,
    text:
      `${whose} has spent $${usd(spentMicroUsd)} in ${month} (UTC), past the spend alert ` +
      `${rule.id} at $${threshold}. This alert is sent once a month; it is managed under ` +
      `/v1/organization${project ? `/projects/${project}` : ''}/spend_alerts.`,
  };
}
