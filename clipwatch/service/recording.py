"""Recording feedback: the Service's part behind /feedback and a timeline window's feedback."""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from clipwatch.dataset import ACTION_NAME
from clipwatch.predictor import Predictor
from clipwatch.service.schemas import FeedbackResponse
from clipwatch.stores import FeedbackRow
from clipwatch.timeline.jobs import JobNotFound


class Recording:
    """Mixed into clipwatch.service.runtime.Service, which provides the attributes used here."""

    def checked_target(self, predictor: Predictor, target: str) -> str:
        target = target.strip()
        classes = predictor.version.classes
        if target in classes:
            return target
        if self.settings.allow_new_classes and ACTION_NAME.match(target):
            return target
        if self.settings.allow_new_classes:
            raise HTTPException(422, "a new class name must be 1-64 letters, digits, spaces, '_', '-' or '.'")
        raise HTTPException(
            422,
            f"unknown class {target!r}; known classes: {', '.join(classes)} "
            "(set ALLOW_NEW_CLASSES=true to accept new ones)",
        )

    @staticmethod
    def checked_prediction(predictor: Predictor, prediction: str) -> str:
        """The client's claim of what the model predicted: one of its classes, or empty (ask the model)."""
        prediction = prediction.strip()
        classes = predictor.version.classes
        if prediction and prediction not in classes:
            raise HTTPException(
                422,
                f"prediction {prediction[:64]!r} is not one of the model's classes ({', '.join(classes)}); "
                "leave it out to store the model's own prediction",
            )
        return prediction

    async def record_feedback(self, row: FeedbackRow) -> FeedbackResponse:
        """Append one row to the feedback store; a retrain may follow (every k rows)."""
        if self.holder.predictor is None:
            raise HTTPException(503, "model not loaded")
        result = await run_in_threadpool(self.store.append, [row])
        triggered = self.loop.rows_appended(result.rows_before, result.rows)
        self.metrics.feedback.inc()
        self.metrics.feedback_rows.set(result.rows)
        self.metrics.record_feedback(row.target == row.prediction)
        return FeedbackResponse(
            rows=result.rows,
            store=self.store.where,
            retrain_triggered=triggered,
            retrain_every_k=self.loop.every_k,
            prediction=row.prediction,
            model_version=row.model_version,
        )

    async def feedback_by_id(self, prediction_id: str, target: str) -> FeedbackResponse:
        """The true class of a clip predicted earlier, named by its prediction id."""
        target = self.checked_target(self.predictor(), target)
        cached = await run_in_threadpool(self.cache.get, prediction_id)
        if cached is None:
            raise HTTPException(
                404,
                f"unknown or expired prediction_id {prediction_id[:64]!r}: "
                "predict again, or send the clip with the feedback",
            )
        row = FeedbackRow(cached.vector, target, cached.label, prediction_id, cached.model_version, cached.confidence)
        return await self.record_feedback(row)

    async def feedback_with_clip(self, request: Request) -> FeedbackResponse:
        """Multipart file + target [+ prediction]: the clip is classified, then recorded with its label."""
        predictor = self.predictor()
        upload = await self.receive(request)
        try:
            if "target" not in upload.fields:
                raise HTTPException(422, "missing form field 'target'")
            target = self.checked_target(predictor, upload.fields["target"])
            claimed = self.checked_prediction(predictor, upload.fields.get("prediction", ""))
            pid, pred = await self.predict_clip(request, upload)
        finally:
            upload.cleanup()
        prediction = claimed or pred.label
        row = FeedbackRow(pred.embedding.vector, target, prediction, pid, pred.model_version, pred.confidence)
        return await self.record_feedback(row)

    async def feedback_for_window(self, job_id: str, window: int, target: str) -> FeedbackResponse:
        """The true label of one window of a finished timeline job: its clip vector becomes a row."""
        target = self.checked_target(self.predictor(), target)
        try:
            status = await run_in_threadpool(self.jobs.status, job_id)
            if status["status"] != "done":
                raise HTTPException(409, f"job {job_id} is {status['status']}: give feedback once it is done")
            vector = await run_in_threadpool(self.jobs.vector, job_id, window)
            result = (await run_in_threadpool(self.jobs.result, job_id))["windows"][window]
        except IndexError as exc:
            raise HTTPException(422, str(exc)) from None
        except JobNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        row = FeedbackRow(
            vector, target, result["label"], f"{job_id}:{window}", status["model_version"], result["confidence"]
        )
        return await self.record_feedback(row)
