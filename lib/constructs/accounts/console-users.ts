import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  AccountRecovery,
  FeaturePlan,
  Mfa,
  UserPool,
  type UserPoolClient,
  UserPoolEmail,
  VerificationEmailStyle,
} from 'aws-cdk-lib/aws-cognito';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import {
  SESSION_CLIENT_ID_ENV,
  SESSION_USER_POOL_ID_ENV,
} from '../../../lambda/accounts/session-settings';

export interface ConsoleUsersProps {
  /** Keep the pool (the people and their passwords) when the stack is deleted, with deletion protection. */
  readonly retainData: boolean;
}

/**
 * The people who sign in to the console: a Cognito user pool and the console's app client.
 *
 * Sign-in is by e-mail address (the address is the username), verified by a code Cognito e-mails
 * at sign-up. The console draws its own pages and calls Cognito's user-pool API from the browser
 * (SignUp, ConfirmSignUp, InitiateAuth, ForgotPassword), so there is no hosted-UI domain: a domain
 * only serves managed login and the OAuth endpoints, which nothing here uses, and would be one more
 * sign-in surface to secure. The pool sits with the data (it holds the accounts), outside the
 * stateless API stack.
 *
 * Cognito's own e-mail (COGNITO_DEFAULT) sends a limited number of messages a day per pool, "below
 * the required delivery volume" of typical production (EmailConfigurationType, Cognito API
 * reference); an operator with a verified SES identity moves the pool to SES
 * (`UserPoolEmail.withSES`) before opening sign-ups widely.
 */
export class ConsoleUsers extends Construct {
  public readonly userPool: UserPool;
  public readonly consoleClient: UserPoolClient;

  constructor(scope: Construct, id: string, props: ConsoleUsersProps) {
    super(scope, id);
    this.userPool = new UserPool(this, 'UserPool', {
      // Anyone may create an account: the Free tier is self-service (issue 22). Abuse controls (one
      // Free organization per verified address, sign-ups limited per address) live in the API.
      selfSignUpEnabled: true,
      // Sign in with the e-mail address alone; no separate username to forget.
      signInAliases: { email: true, username: false },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      // Cognito keeps the old, verified address until a change is verified, so an unverified
      // address never becomes the sign-in name (UserAttributeUpdateSettings).
      keepOriginal: { email: true },
      userVerification: { emailStyle: VerificationEmailStyle.CODE },
      standardAttributes: { email: { required: true, mutable: true } },
      // Cognito's documented limits: 6-99 characters; cdk-nag's AwsSolutions-COG1 wants at least 8
      // with upper case, digits and symbols.
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      // MFA is the user's choice (issue 22: "MFA optional"), by an authenticator app (TOTP): SMS
      // would need an SNS role and costs per message, and e-mail MFA needs SES.
      mfa: Mfa.OPTIONAL,
      mfaSecondFactor: { sms: false, otp: true, email: false },
      // A forgotten password is reset by a code to the verified address; no phone numbers here.
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      email: UserPoolEmail.withCognito(),
      // Essentials: the default for new pools; it includes the first 10,000 monthly active users of
      // a Free-tier-heavy service at no charge, which Plus does not (see AwsSolutions-COG8 below).
      featurePlan: FeaturePlan.ESSENTIALS,
      deletionProtection: props.retainData,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    const pool = this.userPool.node.defaultChild;
    if (pool) {
      Validations.of(pool).acknowledge({
        id: 'AwsSolutions::AwsSolutions-COG2',
        reason:
          'MFA is optional by design (issue 22): each user may turn on an authenticator app (TOTP); ' +
          'requiring it would block the self-service Free tier sign-up.',
      });
      Validations.of(pool).acknowledge({
        id: 'AwsSolutions::AwsSolutions-COG8',
        reason:
          "Essentials, not Plus: Plus bills every monthly active user and a Free tier's sign-ups are " +
          'many; abuse is bounded in the API (one Free organization per verified address, sign-ups ' +
          'rate-limited per address).',
      });
    }

    this.consoleClient = this.userPool.addClient('ConsoleClient', {
      // A browser cannot keep a secret: a public client (Cognito rejects calls without SECRET_HASH
      // from browsers when the client has a secret).
      generateSecret: false,
      // USER_PASSWORD_AUTH: the console sends the password to Cognito over TLS (no SRP library
      // in the bundle; cognito-local, which local mode runs, implements this flow). Refresh
      // tokens are always allowed for an app client. No admin flow: nothing server-side signs
      // users in.
      authFlows: { userPassword: true, userSrp: false, adminUserPassword: false, custom: false },
      // No hosted UI, no OAuth flows (see the class comment).
      disableOAuth: true,
      // Unknown address and wrong password answer alike, so the sign-in page reveals no accounts.
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      // An access token lives an hour (Cognito's default and the console's session length before
      // a silent refresh); refresh tokens a working week, so an idle laptop signs out.
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(7),
    });
  }

  /** Lets `fn` verify the console's access tokens: the pool and client it must accept. */
  public bindForSessionVerification(fn: LambdaFunction): void {
    // Verification needs no IAM: the pool's JWKS is public
    // (https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json).
    fn.addEnvironment(SESSION_USER_POOL_ID_ENV, this.userPool.userPoolId);
    fn.addEnvironment(SESSION_CLIENT_ID_ENV, this.consoleClient.userPoolClientId);
  }
}
