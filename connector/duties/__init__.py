"""Usage duties in a running node: what an agreement obliges the consumer to do with the data, enforced.

The duties (connector.policy.duties: delete by a time, inform of each use, no onward transfer) are part of the
signed agreement. The consumer's node:

- records the data it receives under each agreement (`received_data`: which transfer, where the file went, its
  SHA-256 as the provider sealed it), from the pull command's completion or a push it received;
- deletes it when it is due: a scheduled step, kept in the store and resumed after a restart, woken by the
  earliest deletion owed (no polling); the step (steps.py, pure) decides, the shell (service.py) removes the
  file and persists the outcome in one transaction;
- informs the provider of each use (one transfer of the data) with a signed receipt;
- refuses to offer what it received under "no onward transfer" (provenance.py): an asset whose file is, holds
  or has the content of such data is refused at creation and withheld from the catalogue;
- signs a fulfilment receipt for each duty fulfilled (connector.evidence.receipts), keeps it in its evidence
  log (``duty.fulfilled``, about the transfer) and sends it to the provider.

The provider's node verifies each receipt it is sent, or fetches them from the consumer on request, and records
them in its own evidence log (``duty.receipt``), so that both sides' evidence bundles carry them. The
DSP-adjacent endpoints (routes.py) are authenticated exactly like DSP requests.
"""
