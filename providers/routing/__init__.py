"""From a request to its answer: resolve, walk, attempt, relay and the verdict."""
