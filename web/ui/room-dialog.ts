import type { Room } from '../../shared/sdk/index.ts';
import type { AppContext } from './context.ts';
import { byTestId, h, nameTag, replaceChildren } from './dom.ts';
import { readableError } from './errors.ts';

export interface RoomDialog {
  rename(room: Room): void;
  addMembers(room: Room): void;
}

/** One dialog for a group's Rename and Add members; the server's `room` event updates views. */
export function createRoomDialog(ctx: AppContext): RoomDialog {
  const dialog = byTestId<HTMLDialogElement>('room-dialog');
  const form = byTestId<HTMLFormElement>('room-form');
  const heading = byTestId('room-dialog-title');
  const renameField = byTestId('room-rename-field');
  const nameInput = byTestId<HTMLInputElement>('room-rename-input');
  const addField = byTestId('room-add-field');
  const candidates = byTestId<HTMLUListElement>('room-add-members');
  const error = byTestId('room-dialog-error');
  let save: (() => Promise<unknown>) | undefined;

  function show(title: string, mode: 'rename' | 'add', work: () => Promise<unknown>): void {
    form.reset();
    error.textContent = '';
    heading.textContent = title;
    renameField.hidden = mode !== 'rename';
    addField.hidden = mode !== 'add';
    save = work;
    dialog.showModal();
  }

  function rename(room: Room): void {
    show('Rename group', 'rename', async () => {
      const name = nameInput.value.trim();
      if (!name) {
        throw new Error('empty');
      }
      await ctx.client.http.renameRoom(room.id, name);
    });
    nameInput.value = room.name;
    nameInput.select();
  }

  function addMembers(room: Room): void {
    const options = ctx.friends
      .filter((friend) => !room.memberIds.includes(friend.id))
      .map((friend) =>
        h(
          'li',
          {},
          h(
            'label',
            { class: 'check' },
            h('input', {
              type: 'checkbox',
              value: friend.id,
              'data-testid': 'room-add-member',
              'data-username': friend.username,
            }),
            nameTag(friend.displayName || friend.username, friend.username),
          ),
        ),
      );
    show('Add members', 'add', async () => {
      const userIds = [...candidates.querySelectorAll<HTMLInputElement>('input:checked')].map(
        (i) => i.value,
      );
      if (userIds.length === 0) {
        throw new Error('empty');
      }
      await ctx.client.http.addMembers(room.id, userIds);
    });
    replaceChildren(
      candidates,
      options.length > 0 ? options : [h('li', { class: 'muted' }, 'All your friends are in.')],
    );
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
    if (submitter?.value === 'cancel' || !save) {
      dialog.close();
      return;
    }
    save().then(
      () => dialog.close(),
      (failure: unknown) => {
        error.textContent =
          failure instanceof Error && failure.message === 'empty'
            ? 'Nothing to save yet.'
            : readableError(failure);
      },
    );
  });

  return { rename, addMembers };
}
