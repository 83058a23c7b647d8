// What every page shares: data read again while the page is open, and times as ages.
import { useCallback, useEffect, useState } from '/vendor/preact-htm.js'

/** Calls `load` now and every `ms`: [its last answer, the last error's message, a function that reads it again now]. */
export function usePolling(load, ms, key) {
  const [data, setData] = useState(undefined)
  const [error, setError] = useState('')
  const refresh = useCallback(() => load().then((answer) => { setData(answer); setError('') }, (failure) => setError(failure.message)), [key])
  useEffect(() => {
    refresh()
    const timer = setInterval(refresh, ms)
    return () => clearInterval(timer)
  }, [refresh])
  return [data, error, refresh]
}

/** "3 min ago", with the time itself for a pointer or a screen reader's details. */
export function age(time) {
  const seconds = Math.max(0, (Date.now() - Date.parse(time)) / 1000)
  const said = seconds < 90 ? `${Math.round(seconds)} s ago` : seconds < 5400 ? `${Math.round(seconds / 60)} min ago` : seconds < 172800 ? `${Math.round(seconds / 3600)} h ago` : `${Math.round(seconds / 86400)} days ago`
  return `${said} (${new Date(time).toLocaleString()})`
}
