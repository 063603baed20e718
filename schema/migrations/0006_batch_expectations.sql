-- 0006_batch_expectations: lets one round trip carry a whole batch.
--
-- The scheduler sends a common batch (starts, activity results, steps,
-- loads, describes) as one pipelined transaction instead of a statement at
-- a time. It cannot look at a statement's rows before sending the next, so
-- each statement whose outcome the rest depends on (the partition fence,
-- every start created, every result still pending, every step applied)
-- states what it expects with baton_expect. A false expectation raises
-- SQLSTATE BX001, the transaction rolls back with nothing written, and the
-- scheduler applies the batch again statement by statement, which handles
-- every outcome (docs/architecture.md, "Batch transactions").
CREATE FUNCTION baton_expect(ok boolean, what text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION 'baton: batch expectation failed: %', what USING ERRCODE = 'BX001';
  END IF;
  RETURN true;
END
$$;
