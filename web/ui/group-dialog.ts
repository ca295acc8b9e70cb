import type { AppContext } from './context.ts';
import { byTestId, h, nameTag, replaceChildren } from './dom.ts';
import { readableError } from './errors.ts';

/** "New group": a name and some friends; opens the created room. */
export function createGroupDialog(ctx: AppContext, onCreated: (roomId: string) => void) {
  const dialog = byTestId<HTMLDialogElement>('group-dialog');
  const form = byTestId<HTMLFormElement>('group-form');
  const name = byTestId<HTMLInputElement>('group-name');
  const members = byTestId<HTMLUListElement>('group-members');
  const error = byTestId('group-error');

  function open(): void {
    form.reset();
    error.textContent = '';
    const options = ctx.friends.map((friend) =>
      h(
        'li',
        {},
        h(
          'label',
          { class: 'check' },
          h('input', {
            type: 'checkbox',
            name: 'member',
            value: friend.id,
            'data-testid': 'group-member',
            'data-username': friend.username,
          }),
          nameTag(friend.displayName || friend.username, friend.username),
        ),
      ),
    );
    replaceChildren(
      members,
      options.length > 0 ? options : [h('li', { class: 'muted' }, 'Add friends first.')],
    );
    dialog.showModal();
    name.focus();
  }

  async function create(): Promise<void> {
    const memberIds = [...members.querySelectorAll<HTMLInputElement>('input:checked')].map(
      (i) => i.value,
    );
    const groupName = name.value.trim();
    if (!groupName || memberIds.length === 0) {
      error.textContent = 'Give the group a name and pick at least one friend.';
      return;
    }
    try {
      const room = await ctx.client.createGroup(groupName, memberIds);
      dialog.close();
      onCreated(room.id);
    } catch (failure) {
      error.textContent = `Could not create the group. ${readableError(failure)}`;
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
    if (submitter?.value === 'cancel') {
      dialog.close();
      return;
    }
    void create();
  });

  return { open };
}
