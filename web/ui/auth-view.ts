import { AtlasHttp, isAtlasApiError, type AuthResult } from '../../shared/sdk/index.ts';
import { byTestId } from './dom.ts';

const MESSAGES: Record<string, string> = {
  invalid_credentials: 'Wrong username or password.',
  username_taken: 'That username is taken.',
  login_throttled: 'Too many attempts; wait a minute and try again.',
  validation_failed:
    'Check the fields: usernames are 3-32 letters, digits or _ and passwords need 8+ characters.',
  network_error: 'Cannot reach the server.',
};

/**
 * The login / register form. Resolves the first successful AuthResult; the form stays wired
 * (one listener set per page load) and is simply hidden once logged in.
 */
export function showAuthView(notice = ''): Promise<AuthResult> {
  const view = byTestId('auth-view');
  const form = byTestId<HTMLFormElement>('auth-form');
  const error = byTestId('auth-error');
  const register = byTestId<HTMLButtonElement>('auth-register');
  const http = new AtlasHttp();
  error.textContent = notice;
  view.hidden = false;

  return new Promise((resolve) => {
    async function submit(mode: 'login' | 'register'): Promise<void> {
      const data = new FormData(form);
      const username = String(data.get('username') ?? '').trim();
      const password = String(data.get('password') ?? '');
      const displayName = String(data.get('displayName') ?? '').trim();
      if (!username || !password) {
        error.textContent = 'Enter a username and a password.';
        return;
      }
      error.textContent = '';
      setBusy(form, true);
      try {
        const result =
          mode === 'login'
            ? await http.login({ username, password })
            : await http.register({ username, password, ...(displayName ? { displayName } : {}) });
        form.removeEventListener('submit', onSubmit);
        register.removeEventListener('click', onRegister);
        form.reset();
        view.hidden = true;
        resolve(result);
      } catch (failure) {
        const code = isAtlasApiError(failure) ? failure.code : 'network_error';
        error.textContent = MESSAGES[code] ?? (failure instanceof Error ? failure.message : code);
      } finally {
        setBusy(form, false);
      }
    }
    function onSubmit(event: Event): void {
      event.preventDefault();
      void submit('login');
    }
    function onRegister(): void {
      void submit('register');
    }
    form.addEventListener('submit', onSubmit);
    register.addEventListener('click', onRegister);
    byTestId<HTMLInputElement>('auth-username').focus();
  });
}

function setBusy(form: HTMLFormElement, busy: boolean): void {
  for (const button of form.querySelectorAll('button')) {
    button.disabled = busy;
  }
}
