import type { ComponentChildren } from 'preact';
import { onLinkClick } from './router.js';

/** A link to a console URL, navigated without a reload. */
export function Link(props: { href: string; children: ComponentChildren; current?: boolean; class?: string }) {
  return (
    <a href={props.href} class={props.class} aria-current={props.current ? 'page' : undefined} onClick={onLinkClick}>
      {props.children}
    </a>
  );
}
