import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { SpendAlert, SpendAlertPublisher } from './spend';
import type { SpendAlertMail, SpendAlertMailer } from './spend-alert-rules';

/** EventBridge `source` of Tierline's events, and the `detail-type` of a spend alert. */
export const eventSource = (env: string) => `tierline.${env}`;
export const SPEND_ALERT_DETAIL_TYPE = 'Spend limit threshold reached';
/** Environment variable that tells a function its event source. */
export const EVENT_SOURCE_ENV = 'TIERLINE_EVENT_SOURCE';

/**
 * Publishes spend alerts on the account's default event bus; the API stack's rule forwards them to
 * the operator notifications topic. Throws when EventBridge did not take the event, so the alert is
 * retried.
 */
export class EventBridgeSpendAlerts implements SpendAlertPublisher {
  constructor(
    private readonly client: Pick<EventBridgeClient, 'send'>,
    private readonly source: string,
  ) {}

  async publish(alert: SpendAlert): Promise<void> {
    const result = await this.client.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: this.source,
            DetailType: SPEND_ALERT_DETAIL_TYPE,
            Detail: JSON.stringify(alert),
          },
        ],
      }),
    );
    if ((result.FailedEntryCount ?? 0) > 0) {
      throw new Error(
        `EventBridge refused the spend alert: ${result.Entries?.[0]?.ErrorMessage ?? 'unknown error'}`,
      );
    }
  }
}

/**
 * A spend alert e-mail as Amazon SES v2 `SendEmail` takes it (`Destination`, `Content.Simple`), as
 * billing's notices are (lambda/billing/billing-notices.ts).
 */
export function sesSpendAlertMessage(mail: SpendAlertMail, from: string) {
  return {
    FromEmailAddress: from,
    Destination: { ToAddresses: mail.to },
    Content: {
      Simple: {
        Subject: { Data: mail.subject, Charset: 'UTF-8' },
        Body: { Text: { Data: mail.text, Charset: 'UTF-8' } },
      },
    },
  };
}

/**
 * Spend alert e-mails in a Lambda function: written to the log as SES `SendEmail` input, as
 * billing's notices and invitations are: this app verifies no SES sender identity, so it sends none
 * (docs/decisions.md, "Members and invites"); a deployment with one passes the input to
 * `SendEmailCommand` unchanged.
 */
export function awsSpendAlertMail(
  log: ((message: string, details: Record<string, unknown>) => void) | undefined,
): SpendAlertMailer {
  return {
    send: async (mail) =>
      log?.('spend alert e-mail (not sent: no SES identity)', {
        alert: mail.alertId,
        ses: sesSpendAlertMessage(mail, 'alerts@tierline'),
      }),
  };
}
