// A lost node: the plan of what comes back where, shown first, then carried out once confirmed.
import { html, useEffect, useState } from '/vendor/preact-htm.js'
import { api } from '/api.js'
import { ActionState } from '/actions.js'

export function Recover({ user }) {
  const [node, setNode] = useState('')
  const [plan, setPlan] = useState(undefined)
  const [typed, setTyped] = useState('')
  const [error, setError] = useState('')
  const [started, setStarted] = useState(undefined)
  useEffect(() => { document.title = 'Recover a node · restic-docker-swarm' }, [])
  const showPlan = async (event) => {
    event.preventDefault()
    setPlan(undefined)
    setError('')
    try {
      setPlan(await api(`/recovery?node=${encodeURIComponent(node)}`))
    } catch (failure) {
      setError(failure.message)
    }
  }
  const carryOut = async (event) => {
    event.preventDefault()
    try {
      setStarted((await api('/recovery', { method: 'POST', body: { node: plan.lost, confirm: typed, steps: plan.steps.filter((step) => !step.problem).map((step) => `${step.job} -> ${step.target}`) } })).action)
    } catch (failure) {
      setError(failure.message)
    }
  }
  const ready = plan ? plan.steps.filter((step) => !step.problem).length : 0
  return html`<h1>Recover a node</h1>
    <p>Every service whose data was on a node that is down (or removed with docker node rm) comes back on another node, from its newest accepted snapshots, as <code>rds recover</code> does.</p>
    <form onSubmit=${showPlan}>
      <label>The lost node <input value=${node} onInput=${(event) => setNode(event.target.value)} required /></label>
      <button type="submit">Show the plan</button>
    </form>
    <p role="alert" class="error">${error}</p>
    ${plan && html`<h2>The plan for ${plan.lost}</h2>
      ${plan.steps.length === 0 ? html`<p>No labelled service has its data on ${plan.lost}: nothing to recover.</p>` : html`<ul>${plan.steps.map((step) => html`<li class=${step.problem ? 'error' : ''}>${step.said}</li>`)}</ul>`}
      ${started ? html`<${ActionState} id=${started.id} />` : user.role === 'operator' && ready > 0 ? html`<form class="confirm" onSubmit=${carryOut} aria-label="Carry out the recovery">
        <p>This stops, restores and moves ${ready} service(s), one at a time.</p>
        <label>Type ${plan.lost} to carry it out <input value=${typed} onInput=${(event) => setTyped(event.target.value)} autocomplete="off" /></label>
        <button class="primary" type="submit" disabled=${typed !== plan.lost}>Carry out the plan</button>
      </form>` : ''}`}`
}
