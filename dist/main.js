import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as r,c as t,d as m}from"./chunks/chunk-XVHVBGZD.js";import"./chunks/chunk-72E6M3B7.js";import{e as o}from"./chunks/chunk-KOCYCNUX.js";import"./chunks/chunk-OF5XJCVC.js";import"./chunks/chunk-67BG23Y2.js";var i=r(process.env);o(i);await m(i,()=>t());
