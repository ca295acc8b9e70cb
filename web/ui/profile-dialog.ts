import type { OwnUser } from '../../shared/sdk/index.ts';
import type { AppContext } from './context.ts';
import { byTestId } from './dom.ts';
import { readableError } from './errors.ts';

/** "Profile": display name, status line and whether others see when you were last online. */
export function createProfileDialog(ctx: AppContext, onSaved: (user: OwnUser) => void) {
  const dialog = byTestId<HTMLDialogElement>('profile-dialog');
  const form = byTestId<HTMLFormElement>('profile-form');
  const username = byTestId('profile-username');
  const displayName = byTestId<HTMLInputElement>('profile-display-name');
  const statusText = byTestId<HTMLInputElement>('profile-status');
  const showLastSeen = byTestId<HTMLInputElement>('profile-show-last-seen');
  const error = byTestId('profile-error');

  async function open(): Promise<void> {
    error.textContent = '';
    username.textContent = `@${ctx.client.user.username}`;
    try {
      const me = await ctx.client.http.me();
      displayName.value = me.displayName;
      statusText.value = me.statusText ?? '';
      showLastSeen.checked = me.showLastSeen;
    } catch (failure) {
      error.textContent = readableError(failure);
    }
    dialog.showModal();
    displayName.focus();
  }

  async function save(): Promise<void> {
    try {
      const user = await ctx.client.http.updateMe({
        displayName: displayName.value.trim(),
        statusText: statusText.value.trim(),
        showLastSeen: showLastSeen.checked,
      });
      dialog.close();
      onSaved(user);
    } catch (failure) {
      error.textContent = readableError(failure);
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
    if (submitter?.value === 'cancel') {
      dialog.close();
      return;
    }
    void save();
  });

  return { open: () => void open() };
}
