import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { type AuditLogEntry, auditLogs } from '../admin-api';
import type { ConsoleApi } from '../api-client';
import { formatDate } from '../format';
import { ErrorNotice, Loading, TableScroll, useLoad } from '../ui';

function actorOf(entry: AuditLogEntry): string {
  if (entry.actor.type === 'api_key') return `Admin key ${entry.actor.api_key?.id ?? ''}`;
  const user = entry.actor.session?.user;
  return user?.email ?? user?.id ?? 'A session';
}

/** The audit log (owners): newest first, 20 a page, each page after the last entry of the one before. */
export function AuditLogPage({ api }: { api: ConsoleApi }) {
  // The `after` cursors of the pages seen, so "Newer" goes back without a cursor of its own.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const after = cursors.at(-1);
  const page = useLoad(() => auditLogs.page(api, after), [api, after]);
  const entries = page.data?.data ?? [];
  const last = page.data?.last_id ?? undefined;
  return html`<section aria-labelledby="audit-title">
    <h1 id="audit-title">Audit log</h1>
    <p class="lead">Who changed what in this organization: keys, projects, limits, members and invitations.</p>
    <${ErrorNotice} error=${page.error} />
    ${
      page.data
        ? html`<${TableScroll} label="Audit log entries">
            <table>
              <caption>${`Audit log, page ${cursors.length}`}</caption>
              <thead><tr><th scope="col">When (UTC)</th><th scope="col">What</th>
                <th scope="col">Who</th><th scope="col">Project</th><th scope="col">From</th></tr></thead>
              <tbody>${entries.map(
                (entry) => html`<tr data-audit-id=${entry.id}>
                  <td>${formatDate(entry.effective_at)}</td>
                  <th scope="row"><code>${entry.type}</code></th>
                  <td>${actorOf(entry)}</td>
                  <td>${entry.project?.name ?? '—'}</td>
                  <td>${entry.ip_address ?? '—'}</td>
                </tr>`,
              )}</tbody>
            </table>
          <//>
          ${entries.length === 0 ? html`<p class="muted">Nothing recorded yet.</p>` : null}`
        : page.error
          ? null
          : html`<${Loading} what="the audit log" />`
    }
    <p class="pager">
      <button type="button" class="secondary" disabled=${cursors.length < 2}
        onClick=${() => setCursors(cursors.slice(0, -1))}>Newer</button>
      <button type="button" class="secondary" disabled=${!page.data?.has_more || !last}
        onClick=${() => setCursors([...cursors, last])}>Older</button>
    </p>
  </section>`;
}
