import type { Command } from 'commander'
import { surveyLocalVolumes, surveyLine } from '../swarm/volume-survey.js'
import type { CommandContext } from './context.js'
import { writeOut } from '../output.js'

/** Not for people: what the survey job of `rds coverage` runs on each node. */
export function addSurveyVolumesCommand(program: Command, { cli }: CommandContext): void {
  program.command('survey-volumes', { hidden: true }).action(async () => {
    const { default: Docker } = await import('dockerode')
    await writeOut(cli.stdout, surveyLine(await surveyLocalVolumes(new Docker())))
  })
}
