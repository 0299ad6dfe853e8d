// Administration (admins): accounts (create, assign warehouses, disable, new password, revoke a
// device), warehouses (create, edit), publishing a new checklist template version, and the alert
// webhooks (views/webhooks.js).

import { h, replace } from '/js/dom.js';
import { formatDateTime, t } from '/js/i18n.js';
import { agencyLabel, roleLabel } from '/js/labels.js';
import { ROLES } from '/js/protocol.js';
import { badge, empty, errorText, formDialog, section, toast } from '../ui.js';
import { webhooksSection } from './webhooks.js';

const WAREHOUSE_FIELDS = ['id', 'code', 'name', 'address', 'kelurahan', 'kecamatan', 'kota', 'floor_room'];

export async function renderAdmin(ctx, main) {
  if (!ctx.isAdmin) {
    replace(main, h('h1', {}, t('admin.title')), h('p', {}, t('admin.only')));
    return {};
  }
  const usersBox = h('div', {});
  const warehousesBox = h('div', {});
  const devicesBox = h('div', { id: 'devices' });
  let warehouses = [];

  async function guarded(work, okText) {
    try {
      await work();
      if (okText) toast(okText, 'ok');
      await reload();
    } catch (error) {
      toast(errorText(error), 'error');
    }
  }

  function warehouseChecks(selected) {
    return h('fieldset', { class: 'checks' }, h('legend', {}, t('admin.warehouses')),
      warehouses.map((w) => h('label', {}, h('input', { type: 'checkbox', name: 'warehouse', value: w.id, checked: selected.includes(w.id) }), ` ${w.name}`)));
  }

  async function assign(user) {
    const box = warehouseChecks(user.warehouses);
    const dialog = h('dialog', { class: 'form-dialog' }, h('form', { method: 'dialog' },
      h('h2', {}, t('admin.assign_title', { name: user.full_name })), box,
      h('div', { class: 'actions' }, h('button', { class: 'button', value: 'ok' }, t('common.save')), h('button', { class: 'button ghost', value: 'cancel' }, t('common.cancel')))));
    document.body.append(dialog);
    dialog.showModal();
    dialog.addEventListener('close', () => {
      const chosen = [...box.querySelectorAll('input:checked')].map((i) => i.value);
      dialog.remove();
      if (dialog.returnValue === 'ok') guarded(() => ctx.http.patch(`/api/admin/users/${user.id}`, { warehouses: chosen }), t('admin.saved'));
    });
  }

  async function password(user) {
    const values = await formDialog({ title: t('admin.password_title', { name: user.full_name }), text: t('admin.password_text'), fields: [{ name: 'password', label: t('login.password'), type: 'password', required: true }], submit: t('common.save') });
    if (values) await guarded(() => ctx.http.patch(`/api/admin/users/${user.id}`, { password: values.password }), t('admin.saved'));
  }

  async function devices(user) {
    const list = await ctx.http.get(`/api/admin/users/${user.id}/devices`);
    replace(devicesBox, section(t('admin.devices_of', { name: user.full_name }),
      list.length ? h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, [t('admin.device'), t('admin.client_id'), t('admin.last_seen'), t('admin.state'), ''].map((c) => h('th', {}, c)))),
        h('tbody', {}, list.map((d) => h('tr', { dataset: { device: d.id } },
          h('td', {}, d.name), h('td', { class: 'mono small' }, d.client_id), h('td', {}, formatDateTime(d.last_seen)),
          h('td', {}, d.revoked_at ? badge('muted', t('admin.revoked')) : badge('ok', t('admin.active'))),
          h('td', {}, d.revoked_at ? null : h('button', { class: 'button ghost small', on: { click: () => guarded(() => ctx.http.post(`/api/admin/users/${user.id}/devices/${d.id}/revoke`, {}), t('admin.device_revoked')).then(() => devices(user)) } }, t('admin.revoke')))))))
        : empty(t('admin.no_devices'))));
    devicesBox.scrollIntoView({ block: 'nearest' });
  }

  async function createUser() {
    const values = await formDialog({
      title: t('admin.new_user'),
      fields: [
        { name: 'username', label: t('login.username'), required: true },
        { name: 'full_name', label: t('admin.full_name'), required: true },
        { name: 'agency', label: t('admin.agency'), required: true, value: 'POLRI', options: Object.keys(ctx.me.agencies).map((code) => [code, agencyLabel(code)]) },
        { name: 'role', label: t('admin.role'), required: true, value: 'officer', options: ROLES.map((code) => [code, roleLabel(code)]) },
        { name: 'rank', label: t('admin.rank') },
        { name: 'id_number', label: t('admin.id_number') },
        { name: 'warehouses', label: t('admin.warehouse_ids'), value: '' },
        { name: 'password', label: t('admin.initial_password'), type: 'password', required: true },
      ],
      submit: t('admin.create'),
    });
    if (!values) return;
    const body = { ...values, username: values.username.trim().toLowerCase(), agency: values.agency.trim().toUpperCase(), role: values.role.trim(), warehouses: values.warehouses.split(',').map((s) => s.trim()).filter(Boolean) };
    await guarded(() => ctx.http.post('/api/admin/users', body), t('admin.user_created'));
  }

  async function editWarehouse(existing) {
    const values = await formDialog({
      title: existing ? t('admin.edit_warehouse') : t('admin.new_warehouse'),
      fields: WAREHOUSE_FIELDS.map((name) => ({ name, label: t(`warehouse.${name}`), required: ['id', 'code', 'name'].includes(name), value: existing?.[name] ?? '' })),
      submit: t('common.save'),
    });
    if (!values) return;
    const body = { ...values, active: existing?.active ?? true };
    if (existing) await guarded(() => ctx.http.put(`/api/admin/warehouses/${existing.id}`, body), t('admin.saved'));
    else await guarded(() => ctx.http.post('/api/admin/warehouses', body), t('admin.saved'));
  }

  const templateError = h('pre', { class: 'error', hidden: true, id: 'template-errors' });
  const templateFile = h('input', { type: 'file', accept: '.json,.yaml,.yml,application/json,application/yaml', id: 'template-file' });
  async function publish() {
    templateError.hidden = true;
    const file = templateFile.files[0];
    if (!file) return;
    const yaml = /\.ya?ml$/i.test(file.name);
    try {
      const template = await ctx.http.request('POST', '/api/admin/templates', { body: await file.text(), contentType: yaml ? 'application/yaml' : 'application/json' });
      toast(t('admin.template_published', { id: template.id }), 'ok');
    } catch (error) {
      templateError.hidden = false;
      templateError.textContent = (error.body?.errors ?? [errorText(error)]).join('\n');
    }
  }

  async function reload() {
    const [users, list] = await Promise.all([ctx.http.get('/api/admin/users'), ctx.http.get('/api/admin/warehouses')]);
    warehouses = list;
    const names = new Map(list.map((w) => [w.id, w.name]));
    replace(usersBox, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, [t('admin.user'), t('admin.role'), t('admin.agency'), t('admin.warehouses'), t('admin.state'), ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, users.map((u) => h('tr', { dataset: { user: u.username } },
        h('td', {}, h('strong', {}, u.full_name), h('br'), h('span', { class: 'muted small mono' }, u.username)),
        h('td', {}, t(`role.${u.role}`)),
        h('td', {}, agencyLabel(u.agency)),
        h('td', { class: 'small' }, u.warehouses.map((w) => names.get(w) ?? w).join(', ') || (u.role === 'admin' ? t('admin.all_warehouses') : '—')),
        h('td', {}, u.disabled ? badge('bad', t('admin.disabled')) : badge('ok', t('admin.active'))),
        h('td', { class: 'row-actions' },
          h('button', { class: 'button ghost small', on: { click: () => assign(u) } }, t('admin.assign')),
          h('button', { class: 'button ghost small', on: { click: () => guarded(() => ctx.http.patch(`/api/admin/users/${u.id}`, { disabled: !u.disabled }), t('admin.saved')) } }, u.disabled ? t('admin.enable') : t('admin.disable')),
          h('button', { class: 'button ghost small', on: { click: () => password(u) } }, t('admin.password')),
          h('button', { class: 'button ghost small', on: { click: () => devices(u) } }, t('admin.devices'))))))));
    replace(warehousesBox, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, [t('warehouse.name'), t('warehouse.kecamatan'), t('warehouse.address'), ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, list.map((w) => h('tr', { dataset: { warehouse: w.id } },
        h('td', {}, w.name, h('br'), h('span', { class: 'muted small mono' }, w.id)), h('td', {}, w.kecamatan), h('td', { class: 'small' }, `${w.address} ${w.floor_room}`),
        h('td', {}, h('button', { class: 'button ghost small', on: { click: () => editWarehouse(w) } }, t('admin.edit'))))))));
  }

  replace(main,
    h('h1', {}, t('admin.title')),
    section(t('admin.users'), h('div', { class: 'actions' }, h('button', { class: 'button', on: { click: createUser } }, t('admin.new_user'))), h('div', { class: 'table-wrap' }, usersBox)),
    devicesBox,
    section(t('admin.warehouse_list'), h('div', { class: 'actions' }, h('button', { class: 'button', on: { click: () => editWarehouse(null) } }, t('admin.new_warehouse'))), h('div', { class: 'table-wrap' }, warehousesBox)),
    section(t('admin.template'), h('p', { class: 'muted small' }, t('admin.template_hint')),
      h('div', { class: 'actions' }, templateFile, h('button', { class: 'button', on: { click: publish } }, t('admin.publish'))), templateError),
    webhooksSection(ctx));
  await reload();
  return {};
}
