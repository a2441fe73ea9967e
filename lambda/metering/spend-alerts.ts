import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { SpendAlert, SpendAlertPublisher } from './spend';

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
