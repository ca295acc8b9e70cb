import { h, type Child } from './dom.ts';

interface ConfirmOptions {
  label: string;
  testId: string;
  /** The question shown before it happens, e.g. "Block @bob?" (user text in a <bdi>). */
  question: Child[];
  run: () => void;
  danger?: boolean;
}

/**
 * A button for something hard to undo (unfriend, block, leave): the first click asks, in
 * place, and only "Yes" runs it. No window.confirm, which blocks the page and tests.
 */
export function confirmButton(options: ConfirmOptions): HTMLElement {
  const { label, testId, question, run } = options;
  const kind = options.danger ? 'small danger' : 'small secondary';
  const holder = h('span', { class: 'confirm' });
  const ask = h(
    'button',
    { type: 'button', class: kind, 'data-testid': testId, onclick: () => showQuestion() },
    label,
  );
  function showQuestion(): void {
    holder.replaceChildren(
      h('span', { class: 'question' }, ...question),
      h(
        'button',
        { type: 'button', class: kind, 'data-testid': `${testId}-confirm`, onclick: run },
        `Yes, ${label.toLowerCase()}`,
      ),
      h(
        'button',
        { type: 'button', class: 'small secondary', onclick: () => holder.replaceChildren(ask) },
        'No',
      ),
    );
  }
  holder.append(ask);
  return holder;
}
