import { Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { MAIL_CONFIGURATION_SET_ENV, MAIL_FROM_ENV } from '../../../lambda/mail/mail';
import type { MailConfig } from '../../config/schema';

/**
 * The ARNs SES authorizes `SendEmail` against: the sending identity (a required resource of the
 * action) and the configuration set when one is used (SES checks it too, and an identity's
 * default configuration set as well: name that one in the config). Service Authorization
 * Reference, "Actions, resources, and condition keys for Amazon Simple Email Service v2".
 */
export function mailSendingArns(stack: Stack, mail: MailConfig): string[] {
  const arn = (resource: string, resourceName: string) =>
    stack.formatArn({ service: 'ses', resource, resourceName });
  return [
    arn('identity', mail.identity),
    ...(mail.configurationSet ? [arn('configuration-set', mail.configurationSet)] : []),
  ];
}

/**
 * Lets each function send e-mail from the operator's verified SES identity, and names the sender
 * in its environment: the grant and the variable bound together, so a function that may send
 * knows from whom, and one without either logs its mail. Nothing without `mail` in the config.
 */
export function grantMailSending(
  scope: Construct,
  mail: MailConfig | undefined,
  functions: LambdaFunction[],
): void {
  if (!mail) return;
  const statement = new PolicyStatement({
    actions: ['ses:SendEmail'],
    resources: mailSendingArns(Stack.of(scope), mail),
  });
  for (const fn of functions) {
    fn.addEnvironment(MAIL_FROM_ENV, mail.from);
    if (mail.configurationSet) fn.addEnvironment(MAIL_CONFIGURATION_SET_ENV, mail.configurationSet);
    fn.addToRolePolicy(statement);
  }
}
