import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { type Project, projects, type UsageRow, usageByProjectAndKey } from '../admin-api';
import type { ConsoleApi } from '../api-client';
import { formatDate, formatInteger } from '../format';
import { ErrorNotice, Loading, TableScroll, useLoad } from '../ui';
import { ProjectKeys, ProjectLimits } from './project-details';

/**
 * The Projects page: the organization's projects (create, rename, archive), each project's keys and
 * limits, and the last 31 days' usage per project and key. Members read it without the buttons,
 * and without the keys, which are the owners'.
 */
export function ProjectsPage({ api, owner }: { api: ConsoleApi; owner: boolean }) {
  const list = useLoad(() => projects.list(api), [api]);
  const [chosen, setChosen] = useState<string>();
  const [error, setError] = useState<unknown>();
  const project = list.data?.find((p) => p.id === chosen);
  const act = async (action: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await action();
      list.reload();
    } catch (e) {
      setError(e);
    }
  };
  return html`<section aria-labelledby="projects-title">
    <h1 id="projects-title">Projects</h1>
    <p class="lead">Each project has its own keys, rate limits and spend limit, within the organization's.</p>
    ${owner ? html`<${NewProject} act=${act} api=${api} />` : null}
    <${ErrorNotice} error=${error ?? list.error} />
    ${
      list.data
        ? html`<${ProjectTable} list=${list.data} chosen=${chosen} onChoose=${setChosen} />`
        : list.error
          ? null
          : html`<${Loading} what="the projects" />`
    }
    ${
      project
        ? html`<${ProjectDetail} key=${project.id} api=${api} project=${project} owner=${owner} act=${act} />`
        : null
    }
    <${ProjectUsage} api=${api} projects=${list.data ?? []} />
  </section>`;
}

function NewProject(props: { api: ConsoleApi; act: (action: () => Promise<unknown>) => void }) {
  const [name, setName] = useState('');
  const submit = (event: Event) => {
    event.preventDefault();
    props.act(async () => {
      await projects.create(props.api, name.trim());
      setName('');
    });
  };
  return html`<form class="inline-form" aria-label="New project" onSubmit=${submit}>
    <label>Project name <input name="project-name" required maxlength="64" value=${name}
      onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
    <button type="submit">Create project</button>
  </form>`;
}

function ProjectTable(props: {
  list: Project[];
  chosen: string | undefined;
  onChoose: (id: string) => void;
}) {
  return html`<${TableScroll} label="All projects">
    <table>
      <caption>Projects</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Created (UTC)</th>
        <th scope="col"><span class="visually-hidden">Open</span></th></tr></thead>
      <tbody>${props.list.map(
        (p) => html`<tr data-project-id=${p.id}>
          <th scope="row">${p.name}</th>
          <td><span class=${`status ${p.status}`}>${p.status}</span></td>
          <td>${formatDate(p.created_at)}</td>
          <td><button type="button" class="secondary" aria-pressed=${p.id === props.chosen}
            aria-label=${`Open ${p.name}`} onClick=${() => props.onChoose(p.id)}>Open</button></td>
        </tr>`,
      )}</tbody>
    </table>
  <//>`;
}

function ProjectDetail(props: {
  api: ConsoleApi;
  project: Project;
  owner: boolean;
  act: (action: () => Promise<unknown>) => void;
}) {
  const { api, project, owner } = props;
  const [name, setName] = useState(project.name);
  const active = project.status === 'active';
  const rename = (event: Event) => {
    event.preventDefault();
    props.act(() => projects.rename(api, project.id, name.trim()));
  };
  const archive = () => {
    if (window.confirm(`Archive "${project.name}"? Its keys are revoked and stop working.`))
      props.act(() => projects.archive(api, project.id));
  };
  return html`<section class="project" aria-labelledby="project-title">
    <h2 id="project-title">${project.name}</h2>
    <p class="muted"><code>${project.id}</code></p>
    ${
      owner && active
        ? html`<form class="inline-form" aria-label="Rename the project" onSubmit=${rename}>
            <label>New name <input name="rename" required maxlength="64" value=${name}
              onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
            <button type="submit">Rename</button>
            <button type="button" class="danger" onClick=${archive}>Archive project</button>
          </form>`
        : null
    }
    ${owner ? html`<${ProjectKeys} api=${api} project=${project} />` : null}
    <${ProjectLimits} api=${api} project=${project} owner=${owner && active} />
  </section>`;
}

function ProjectUsage(props: { api: ConsoleApi; projects: Project[] }) {
  const usage = useLoad(() => usageByProjectAndKey(props.api), [props.api]);
  const names = new Map(props.projects.map((p) => [p.id, p.name]));
  const rows = usage.data ?? [];
  const label = (row: UsageRow) =>
    row.projectId ? (names.get(row.projectId) ?? row.projectId) : 'No project';
  return html`<section aria-labelledby="project-usage-title">
    <h2 id="project-usage-title">Usage in the last 31 days</h2>
    <${ErrorNotice} error=${usage.error} />
    ${
      usage.data === undefined
        ? usage.error
          ? null
          : html`<${Loading} what="the usage" />`
        : rows.length === 0
          ? html`<p class="muted">No requests in the last 31 days.</p>`
          : html`<${TableScroll} label="Usage per project and key">
            <table data-testid="project-usage">
              <caption>Usage per project and key</caption>
              <thead><tr><th scope="col">Project</th><th scope="col">Key</th>
                <th scope="col">Requests</th><th scope="col">Input tokens</th>
                <th scope="col">Output tokens</th></tr></thead>
              <tbody>${rows.map(
                (row) => html`<tr>
                  <th scope="row">${label(row)}</th>
                  <td><code>${row.apiKeyId ?? '—'}</code></td>
                  <td>${formatInteger(row.requests)}</td>
                  <td>${formatInteger(row.inputTokens)}</td>
                  <td>${formatInteger(row.outputTokens)}</td>
                </tr>`,
              )}</tbody>
            </table>
          <//>`
    }
  </section>`;
}
