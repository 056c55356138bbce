//! Scheduled posts, their reported results, and the sweep that fails the unreported ones.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, QueryBuilder, Row};

use crate::ids::{self, new_id};
use crate::model::*;
use crate::store::*;
use crate::time::{self, from_micros, to_micros};

use super::outbox::insert_event;
use super::*;

const POST_COLUMNS: &str = "id, text, media_urls, status, scheduled_at, published_at, \
     linkedin_url, failed_at, failure_reason, failure_detail, created_at, updated_at";

fn post_from_row(row: &DbRow) -> Result<Post> {
    let reason: Option<String> = row.try_get("failure_reason")?;
    Ok(Post {
        id: row.try_get("id")?,
        text: row.try_get("text")?,
        media_urls: decode_json("media_urls", row.try_get("media_urls")?)?,
        status: decode_enum("status", row.try_get("status")?)?,
        scheduled_at: from_micros(row.try_get("scheduled_at")?),
        published_at: optional_time(row.try_get("published_at")?),
        linkedin_url: row.try_get("linkedin_url")?,
        failed_at: optional_time(row.try_get("failed_at")?),
        failure_reason: reason
            .map(|text| decode_enum("failure_reason", text))
            .transpose()?,
        failure_detail: row.try_get("failure_detail")?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

/// The post and the event its result emitted, if it has one.
async fn fetch_post(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> Result<Option<(Post, Option<String>)>> {
    let sql = format!(
        "SELECT {POST_COLUMNS}, result_event_id FROM posts WHERE workspace_id = $1 AND id = $2"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|row| Ok((post_from_row(&row)?, row.try_get("result_event_id")?)))
        .transpose()
}

/// Applies a reported result to a post that has none yet.
fn apply_result(post: &mut Post, result: &PostResult, now: Timestamp) {
    post.updated_at = now;
    match result.outcome {
        PostOutcome::Published => {
            post.status = PostStatus::Published;
            post.published_at = Some(now);
            post.linkedin_url.clone_from(&result.linkedin_url);
        }
        PostOutcome::Failed => {
            post.status = PostStatus::Failed;
            post.failed_at = Some(now);
            post.failure_reason = result.reason;
            post.failure_detail.clone_from(&result.detail);
        }
    }
}

fn already_reported(post: &Post) -> StoreError {
    let status = match post.failure_reason {
        Some(reason) if post.status == PostStatus::Failed => {
            format!("`failed` ({})", reason.as_str())
        }
        _ => format!("`{}`", post.status.as_str()),
    };
    StoreError::Conflict(format!(
        "post {} already has a result: it is {status}; a different result cannot replace it",
        post.id
    ))
}

#[async_trait]
impl PostStore for DbStore {
    async fn create_post(&self, workspace_id: &str, new: &NewPost) -> Result<Post> {
        let now = time::now();
        new.validate(now)?;
        let post = Post {
            id: new_id(ids::POST),
            text: new.text.clone(),
            media_urls: new.media_urls.clone(),
            status: PostStatus::Scheduled,
            // To the precision the store keeps, so the answer equals what is read back.
            scheduled_at: from_micros(to_micros(new.scheduled_at)),
            published_at: None,
            linkedin_url: None,
            failed_at: None,
            failure_reason: None,
            failure_detail: None,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO posts (workspace_id, {POST_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, NULL, NULL, $7, $8)"
        )))
        .bind(workspace_id)
        .bind(&post.id)
        .bind(&post.text)
        .bind(json_text(&post.media_urls))
        .bind(post.status.as_str())
        .bind(to_micros(post.scheduled_at))
        .bind(to_micros(post.created_at))
        .bind(to_micros(post.updated_at))
        .execute(&self.pool)
        .await
        .map_err(|error| match error {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound("workspace")
            }
            error => error.into(),
        })?;
        Ok(post)
    }

    async fn get_post(&self, workspace_id: &str, id: &str) -> Result<Option<Post>> {
        let mut conn = self.pool.acquire().await?;
        Ok(fetch_post(&mut conn, workspace_id, id)
            .await?
            .map(|(post, _)| post))
    }

    async fn list_posts(
        &self,
        workspace_id: &str,
        status: Option<PostStatus>,
        page: &PageRequest,
    ) -> Result<Page<Post>> {
        let mut query = QueryBuilder::<Db>::new(format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE workspace_id = "
        ));
        query.push_bind(workspace_id);
        if let Some(status) = status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(after) = &page.after {
            query.push(" AND id < ").push_bind(after.as_str());
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(page.limit) + 1);
        let rows = query.build().fetch_all(&self.pool).await?;
        let posts = rows.iter().map(post_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(posts, page.limit, |post| &post.id))
    }

    async fn record_post_result(
        &self,
        workspace_id: &str,
        id: &str,
        result: &PostResult,
    ) -> Result<RecordedResult> {
        result.validate()?;
        let mut tx = self.write_in(workspace_id).await?;
        let (mut post, recorded_event) = fetch_post(&mut tx, workspace_id, id)
            .await?
            .ok_or(StoreError::NotFound("post"))?;
        if post.status != PostStatus::Scheduled {
            return match recorded_event {
                Some(event_id) if result.is_recorded_on(&post) => Ok(RecordedResult {
                    post,
                    event_id,
                    repeated: true,
                }),
                _ => Err(already_reported(&post)),
            };
        }

        apply_result(&mut post, result, time::now());
        let event = match post.status {
            PostStatus::Published => post_published_event(workspace_id, &post),
            _ => post_failed_event(workspace_id, &post),
        };
        // Conditional on the status, so that a sweep that failed the post in the meantime
        // wins instead of being overwritten.
        let updated = sqlx::query(
            "UPDATE posts SET status = $1, published_at = $2, linkedin_url = $3, failed_at = $4, \
             failure_reason = $5, failure_detail = $6, result_event_id = $7, updated_at = $8 \
             WHERE id = $9 AND status = 'scheduled'",
        )
        .bind(post.status.as_str())
        .bind(post.published_at.map(to_micros))
        .bind(&post.linkedin_url)
        .bind(post.failed_at.map(to_micros))
        .bind(post.failure_reason.map(PostFailureReason::as_str))
        .bind(&post.failure_detail)
        .bind(&event.id)
        .bind(to_micros(post.updated_at))
        .bind(&post.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(StoreError::Conflict(format!(
                "post {} got a result while this one was recorded; fetch it and retry",
                post.id
            )));
        }
        let queued = insert_event(&mut tx, &event).await?;
        self.commit_with_deliveries(tx, queued).await?;
        Ok(RecordedResult {
            post,
            event_id: event.id,
            repeated: false,
        })
    }

    async fn fail_unrun_posts(
        &self,
        now: Timestamp,
        grace: Duration,
        limit: u32,
    ) -> Result<Vec<Swept<Post>>> {
        let Some(cutoff) = chrono::Duration::from_std(grace)
            .ok()
            .and_then(|grace| now.checked_sub_signed(grace))
        else {
            return Ok(Vec::new());
        };
        let detail = format!(
            "no result was reported within {} of the scheduled time",
            crate::duration::format(grace)
        );
        let mut tx = self.write().await?;
        // One statement picks and changes the posts; `status = 'scheduled'` in its WHERE
        // makes a post change for one sweep only, whoever else sweeps at the same time.
        let sql = format!(
            "UPDATE posts SET status = 'failed', failed_at = $1, failure_reason = 'not_run', \
             failure_detail = $2, updated_at = $1 \
             WHERE status = 'scheduled' AND id IN (\
                SELECT id FROM posts WHERE status = 'scheduled' AND scheduled_at <= $3 \
                ORDER BY scheduled_at, id LIMIT $4) \
             RETURNING workspace_id, {POST_COLUMNS}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(to_micros(now))
            .bind(&detail)
            .bind(to_micros(cutoff))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;

        let mut swept = Vec::with_capacity(rows.len());
        let mut queued = 0;
        for row in rows {
            let workspace_id: String = row.try_get("workspace_id")?;
            let post = post_from_row(&row)?;
            let event = post_failed_event(&workspace_id, &post);
            sqlx::query("UPDATE posts SET result_event_id = $1 WHERE id = $2")
                .bind(&event.id)
                .bind(&post.id)
                .execute(&mut *tx)
                .await?;
            queued += insert_event(&mut tx, &event).await?;
            swept.push(Swept {
                workspace_id,
                item: post,
                event_id: event.id,
            });
        }
        self.commit_with_deliveries(tx, queued).await?;
        Ok(swept)
    }
}
