import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { type CognitoClient, CognitoError, explainCognito, type SessionTokens } from '../cognito';

/**
 * Signing in with the user pool: sign in, sign up, verify the e-mail with the mailed code, forgot
 * password and reset it with a code. Hash routes (`#/signup`, `#/verify?email=&code=`, ...), so
 * the links in the e-mails open the right form filled in.
 */

export type AccessMode = 'signin' | 'signup' | 'verify' | 'forgot' | 'reset';
const MODES: AccessMode[] = ['signin', 'signup', 'verify', 'forgot', 'reset'];

/** The form the hash asks for, and the e-mail and code its link carries. */
export function accessRoute(hash: string): { mode: AccessMode; email: string; code: string } {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  const params = new URLSearchParams(query);
  const mode = MODES.find((m) => m === path) ?? 'signin';
  return { mode, email: params.get('email') ?? '', code: params.get('code') ?? '' };
}

const go = (mode: AccessMode, email: string) => {
  location.hash = `#/${mode}${email ? `?email=${encodeURIComponent(email)}` : ''}`;
};

const BUTTONS: Record<AccessMode, string> = {
  signin: 'Sign in',
  signup: 'Create account',
  verify: 'Verify',
  forgot: 'Send a code',
  reset: 'Change password',
};

const TITLES: Record<AccessMode, string> = {
  signin: 'Sign in to the Tierline console',
  signup: 'Create your Tierline account',
  verify: 'Verify your e-mail address',
  forgot: 'Reset your password',
  reset: 'Choose a new password',
};

function Field(props: {
  label: string;
  name: string;
  type: string;
  value: string;
  autocomplete: string;
  onInput: (value: string) => void;
}) {
  return html`<label>${props.label}
    <input name=${props.name} type=${props.type} required autocomplete=${props.autocomplete}
      value=${props.value} onInput=${(e: Event) => props.onInput((e.target as HTMLInputElement).value)} /></label>`;
}

export function AccountAccess(props: {
  cognito: CognitoClient;
  route: { mode: AccessMode; email: string; code: string };
  onSignedIn: (tokens: SessionTokens, email: string) => void;
  /** The API-key form, for operators' keys and local demo keys. */
  keySignIn: unknown;
}) {
  const { mode } = props.route;
  const [email, setEmail] = useState(props.route.email);
  const [password, setPassword] = useState('');
  const [code, setCode] = useState(props.route.code);
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);
  const { cognito } = props;
  const address = email.trim().toLowerCase();

  const actions: Record<AccessMode, () => Promise<void>> = {
    signin: async () => props.onSignedIn(await cognito.signIn(address, password), address),
    signup: async () => {
      await cognito.signUp(address, password);
      setNotice(`We sent a code to ${address}: enter it below.`);
      go('verify', address);
    },
    verify: async () => {
      await cognito.confirmSignUp(address, code.trim());
      setNotice('Your address is verified: sign in.');
      go('signin', address);
    },
    forgot: async () => {
      await cognito.forgotPassword(address);
      setNotice(`If ${address} has an account, we sent it a code: enter it with a new password.`);
      go('reset', address);
    },
    reset: async () => {
      await cognito.confirmForgotPassword(address, code.trim(), password);
      setNotice('Your password is changed: sign in with it.');
      go('signin', address);
    },
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      await actions[mode]();
      setPassword('');
      setCode('');
    } catch (e) {
      if (e instanceof CognitoError && e.type === 'UserNotConfirmedException')
        go('verify', address);
      // cognito-local refuses a wrong password at sign-in as InvalidPassword; Cognito as NotAuthorized.
      const refused =
        e instanceof CognitoError && mode === 'signin' && e.type === 'InvalidPasswordException'
          ? new CognitoError('NotAuthorizedException', e.message)
          : e;
      setError(
        refused instanceof CognitoError
          ? explainCognito(refused)
          : 'The sign-in service cannot be reached: try again.',
      );
    } finally {
      setBusy(false);
    }
  };
  const needsPassword = mode === 'signin' || mode === 'signup' || mode === 'reset';
  const needsCode = mode === 'verify' || mode === 'reset';
  return html`<main id="main" class="sign-in">
    <h1>${TITLES[mode]}</h1>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    <form onSubmit=${submit} aria-label=${TITLES[mode]}>
      <${Field} label="E-mail address" name="email" type="email" autocomplete="username"
        value=${email} onInput=${setEmail} />
      ${needsCode ? html`<${Field} label="Code from the e-mail" name="code" type="text" autocomplete="one-time-code" value=${code} onInput=${setCode} />` : null}
      ${needsPassword ? html`<${Field} label=${mode === 'signin' ? 'Password' : 'New password'} name="password" type="password" autocomplete=${mode === 'signin' ? 'current-password' : 'new-password'} value=${password} onInput=${setPassword} />` : null}
      <button type="submit" disabled=${busy}>${busy ? 'Please wait…' : BUTTONS[mode]}</button>
    </form>
    ${error ? html`<div class="notice error" role="alert"><p>${error}</p></div>` : null}
    <nav aria-label="Account" class="access-links"><ul>
      ${mode !== 'signin' ? html`<li><a href="#/signin">Sign in</a></li>` : null}
      ${mode !== 'signup' ? html`<li><a href="#/signup">Create an account</a></li>` : null}
      ${mode === 'signin' ? html`<li><a href="#/forgot">Forgot your password?</a></li>` : null}
      ${
        mode === 'verify'
          ? html`<li><button type="button" class="secondary" onClick=${() =>
              cognito.resendCode(address).then(
                () => setNotice('A new code is on its way.'),
                () => setError('No code could be sent: check the address.'),
              )}>Send a new code</button></li>`
          : null
      }
    </ul></nav>
    ${mode === 'signin' ? props.keySignIn : null}
  </main>`;
}
