import { MailFileMailer } from '../mail/mail-file';

/**
 * The e-mails billing sends an organization about its payments: a payment failed (the grace state
 * opens), the grace ran out (Free limits), the payment arrived (Developer limits back). Each is
 * sent once per move: the caller sends it only when its conditional write made the move
 * (billing-accounts.ts `PaymentStates`).
 */
export type NoticeKind = 'payment_failed' | 'limited' | 'restored';

export interface BillingNotice {
  customerId: string;
  kind: NoticeKind;
  to: string;
  subject: string;
  text: string;
}

export interface BillingNotices {
  send(notice: BillingNotice): Promise<void>;
}

/** The notice's words; `limitAt` is when Free limits apply if the payment does not come. */
export function billingNotice(
  kind: NoticeKind,
  input: { customerId: string; to: string; limitAt?: string },
): BillingNotice {
  const texts: Record<NoticeKind, [string, string]> = {
    payment_failed: [
      'Tierline: your payment failed',
      `We could not charge the payment method of organization ${input.customerId}. Your Developer ` +
        `limits stay until ${input.limitAt ?? 'the grace period ends'}; after that the organization ` +
        'moves to Free limits until the invoice is paid. Nothing is deleted. Update your payment ' +
        'method on the Billing page of the console.',
    ],
    limited: [
      'Tierline: Free limits until your invoice is paid',
      `The invoice of organization ${input.customerId} is still unpaid after the grace period: the ` +
        'organization has Free limits now. Your keys, files, batches and models are all kept; ' +
        'Developer limits come back as soon as the invoice is paid.',
    ],
    restored: [
      'Tierline: payment received',
      `Thank you: the invoice of organization ${input.customerId} is paid and its Developer limits ` +
        'are back.',
    ],
  };
  const [subject, text] = texts[kind];
  return { customerId: input.customerId, kind, to: input.to, subject, text };
}

/** Local mode's notices: in the mail file, where cognito-local's mail also goes, tagged by kind. */
export function mailFileNotices(mailFile: string): BillingNotices {
  return {
    send: (notice) => new MailFileMailer(mailFile, { reason: notice.kind }).send(notice),
  };
}
